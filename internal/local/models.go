package local

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/scenedex/scenedex/internal/clip"
	"github.com/scenedex/scenedex/internal/descriptor"
	"github.com/scenedex/scenedex/internal/models"
	"github.com/scenedex/scenedex/internal/modelserver"
	"github.com/scenedex/scenedex/internal/sagemaker"
	"github.com/scenedex/scenedex/internal/scenedex"
)

// servedModels is scenedex.Models over the built-in model server: it loads
// a model folder (or a pulled model by name) beside the models the server
// already serves, and embeds with any of them by name through the same
// SageMaker client the pipeline uses.
type servedModels struct {
	cfg   Config
	srv   *modelserver.Server
	via   *sagemaker.Embedder
	store models.Store

	mu      sync.Mutex        // held while a model loads; no database is touched under it
	sources map[string]string // folder -> model name, of what was loaded
	open    []*clip.Model
}

var _ scenedex.Models = (*servedModels)(nil)

func newServedModels(cfg Config, srv *modelserver.Server, via *sagemaker.Embedder) *servedModels {
	return &servedModels{cfg: cfg, srv: srv, via: via, store: models.Store{Dir: filepath.Join(cfg.Data, "models")},
		sources: map[string]string{}}
}

// served records that the model at source is served as name (the one the
// server started with).
func (m *servedModels) served(name, source string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if source == "" {
		return
	}
	if abs, err := filepath.Abs(source); err == nil {
		source = abs
	}
	m.sources[source] = name
}

// Load serves nameOrSource: a name already served, the built-in descriptor,
// a model folder or a pulled model's name.
func (m *servedModels) Load(_ context.Context, nameOrSource string) (string, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for source, name := range m.sources {
		if nameOrSource == name || nameOrSource == source {
			return name, source, nil
		}
	}
	if nameOrSource == descriptor.Name {
		return descriptor.Name, "", nil
	}
	dir, err := m.store.Resolve(nameOrSource)
	if err != nil {
		return "", "", scenedex.Errorf(scenedex.CodeInvalid, "%v", err)
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return "", "", err
	}
	if name, ok := m.sources[dir]; ok {
		return name, dir, nil
	}
	cfg := m.cfg
	cfg.Model = dir
	model, err := openModel(cfg)
	if err != nil {
		return "", "", scenedex.Errorf(scenedex.CodeInvalid, "%v", err)
	}
	m.srv.Add(model.Name, model)
	m.sources[dir] = model.Name
	m.open = append(m.open, model)
	m.cfg.Log.Info("model loaded beside the live one", "model", model.Name, "folder", dir)
	return model.Name, dir, nil
}

// Embedder embeds with the named model.
func (m *servedModels) Embedder(name string) scenedex.Embedder { return m.via.ForModel(name) }

// Close closes the models Load opened.
func (m *servedModels) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var errs []error
	for _, model := range m.open {
		if err := model.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close model %s: %w", model.Name, err))
		}
	}
	m.open = nil
	return errors.Join(errs...)
}
