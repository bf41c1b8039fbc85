// Package onnx runs ONNX models through ONNX Runtime (the shared library from
// the pinned onnxruntime-node package, loaded at run time through
// github.com/yalue/onnxruntime_go). It needs cgo; the Lambda functions never
// import it — models run in the model server.
package onnx

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

var (
	initOnce sync.Once
	initLib  string
	initErr  error
)

// Init loads the ONNX Runtime shared library at path once per process. Later
// calls with another path fail: the runtime can be loaded only once.
func Init(path string) error {
	initOnce.Do(func() {
		initLib = path
		if _, err := os.Stat(path); err != nil {
			initErr = fmt.Errorf("onnx runtime library: %w", err)
			return
		}
		ort.SetSharedLibraryPath(path)
		if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
			initErr = fmt.Errorf("load onnx runtime %s: %w", path, err)
		}
	})
	if initErr == nil && path != initLib {
		return fmt.Errorf("onnx runtime already loaded from %s, not %s", initLib, path)
	}
	return initErr
}

// Version is the loaded runtime's version.
func Version() string { return ort.GetVersion() }

// Session is one loaded model. Its input and output names and shapes are
// read from the graph, never assumed. Run is safe for concurrent use.
type Session struct {
	Path    string
	Inputs  []ort.InputOutputInfo
	Outputs []ort.InputOutputInfo
	s       *ort.DynamicAdvancedSession
}

// Open loads the model at path with the given number of intra-op threads
// (0: the runtime's default). Init must have succeeded.
func Open(path string, threads int) (*Session, error) {
	in, out, err := ort.GetInputOutputInfo(path)
	if err != nil {
		return nil, fmt.Errorf("read model %s: %w", path, err)
	}
	if len(in) == 0 || len(out) == 0 {
		return nil, fmt.Errorf("model %s has no inputs or no outputs", path)
	}
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("session options: %w", err)
	}
	defer opts.Destroy()
	if threads > 0 {
		if err := opts.SetIntraOpNumThreads(threads); err != nil {
			return nil, err
		}
		if err := opts.SetInterOpNumThreads(1); err != nil {
			return nil, err
		}
	}
	s, err := ort.NewDynamicAdvancedSession(path, names(in), names(out), opts)
	if err != nil {
		return nil, fmt.Errorf("open model %s: %w", path, err)
	}
	return &Session{Path: path, Inputs: in, Outputs: out, s: s}, nil
}

func names(io []ort.InputOutputInfo) []string {
	n := make([]string, len(io))
	for i, x := range io {
		n[i] = x.Name
	}
	return n
}

// Close frees the session.
func (s *Session) Close() error { return s.s.Destroy() }

// OpenPair opens the two graphs of a two-stage model (text and vision,
// detection and recognition), or neither.
func OpenPair(pathA, pathB string, threads int) (*Session, *Session, error) {
	a, err := Open(pathA, threads)
	if err != nil {
		return nil, nil, err
	}
	b, err := Open(pathB, threads)
	if err != nil {
		a.Close()
		return nil, nil, err
	}
	return a, b, nil
}

// Tensor is a float32 tensor: data in row-major order and its shape.
type Tensor struct {
	Data  []float32
	Shape []int64
}

// RunFloat runs a model with one float32 input and returns its first output,
// which must be float32 too.
func (s *Session) RunFloat(in Tensor) (Tensor, error) {
	if len(s.Inputs) != 1 {
		return Tensor{}, fmt.Errorf("model %s has %d inputs, want 1", s.Path, len(s.Inputs))
	}
	x, err := ort.NewTensor(ort.NewShape(in.Shape...), in.Data)
	if err != nil {
		return Tensor{}, fmt.Errorf("input tensor %v: %w", in.Shape, err)
	}
	defer x.Destroy()
	outs := make([]ort.Value, len(s.Outputs))
	if err := s.s.Run([]ort.Value{x}, outs); err != nil {
		return Tensor{}, fmt.Errorf("run %s: %w", filepath.Base(s.Path), err)
	}
	defer func() {
		for _, o := range outs {
			if o != nil {
				o.Destroy()
			}
		}
	}()
	t, ok := outs[0].(*ort.Tensor[float32])
	if !ok {
		return Tensor{}, errors.New("model output is not a float32 tensor")
	}
	data := append([]float32(nil), t.GetData()...)
	return Tensor{Data: data, Shape: append([]int64(nil), t.GetShape()...)}, nil
}

// Int64Tensor is an int64 tensor (token ids, masks).
type Int64Tensor struct {
	Data  []int64
	Shape []int64
}

// Run runs the model with inputs by name (Tensor or Int64Tensor values,
// one for each of the graph's inputs) and returns the output called output,
// which must be float32.
func (s *Session) Run(inputs map[string]any, output string) (Tensor, error) {
	values := make([]ort.Value, len(s.Inputs))
	defer func() {
		for _, v := range values {
			if v != nil {
				v.Destroy()
			}
		}
	}()
	for i, info := range s.Inputs {
		var v ort.Value
		var err error
		switch t := inputs[info.Name].(type) {
		case Tensor:
			v, err = ort.NewTensor(ort.NewShape(t.Shape...), t.Data)
		case Int64Tensor:
			v, err = ort.NewTensor(ort.NewShape(t.Shape...), t.Data)
		default:
			return Tensor{}, fmt.Errorf("model %s: no value for input %q", filepath.Base(s.Path), info.Name)
		}
		if err != nil {
			return Tensor{}, fmt.Errorf("input %s: %w", info.Name, err)
		}
		values[i] = v
	}
	want := -1
	for i, o := range s.Outputs {
		if o.Name == output {
			want = i
		}
	}
	if want < 0 {
		return Tensor{}, fmt.Errorf("model %s has no output %q", filepath.Base(s.Path), output)
	}
	outs := make([]ort.Value, len(s.Outputs))
	if err := s.s.Run(values, outs); err != nil {
		return Tensor{}, fmt.Errorf("run %s: %w", filepath.Base(s.Path), err)
	}
	defer func() {
		for _, o := range outs {
			if o != nil {
				o.Destroy()
			}
		}
	}()
	t, ok := outs[want].(*ort.Tensor[float32])
	if !ok {
		return Tensor{}, fmt.Errorf("output %s is not a float32 tensor", output)
	}
	return Tensor{Data: append([]float32(nil), t.GetData()...), Shape: append([]int64(nil), t.GetShape()...)}, nil
}
