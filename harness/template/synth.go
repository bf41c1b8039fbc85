// Package template synthesizes the real CDK stack the way `cdk deploy` does
// and reads what each Lambda function is given: its environment, its role's
// IAM statements, its limits and event sources, the queues and the state
// machine, with every CloudFormation intrinsic resolved to deterministic fake
// physical ids (queue URLs, ARNs, table and bucket names).
//
// It is a test harness: only tests import it.
//
//	st, err := template.Load() // synthesized once per test binary
//	embed := st.Functions["embed"]
//	embed.Env["TABLE"], embed.Policy, embed.EventSources
package template

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
)

// The account and region the stack is synthesized for: `make synth`'s dummy
// ones (Makefile), so ARNs in the template are concrete.
const (
	Account   = "123456789012"
	Region    = "us-east-1"
	StackName = "scenedex"
)

var (
	loadOnce  sync.Once
	loadStack *Stack
	loadErr   error
)

// Load synthesizes the stack with cdk.json's context (once per process, and
// cached on disk under the user's cache directory keyed by the CDK app's
// sources, cdk.json and the CDK CLI's lock file) and parses it.
func Load() (*Stack, error) {
	loadOnce.Do(func() {
		root, err := RepoRoot()
		if err != nil {
			loadErr = err
			return
		}
		loadStack, loadErr = LoadWith(context.Background(), root, nil)
	})
	return loadStack, loadErr
}

// RepoRoot is the scenedex repository this package is part of.
func RepoRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("template: cannot locate the repository")
	}
	root := filepath.Join(filepath.Dir(file), "..", "..")
	if _, err := os.Stat(filepath.Join(root, "cdk.json")); err != nil {
		return "", fmt.Errorf("template: no cdk.json at %s: %w", root, err)
	}
	return root, nil
}

// FunctionNames are the Lambda functions of the repository: the folders of
// functions/ with a main.go.
func FunctionNames(root string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(root, "functions"))
	if err != nil {
		return nil, fmt.Errorf("template: list functions: %w", err)
	}
	var names []string
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(root, "functions", e.Name(), "main.go")); e.IsDir() && err == nil {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// standIn is what each stand-in bundle's bootstrap holds: the template
// depends on a bundle's hash only, and Parse reads the name back from the
// staged asset to tell which function a resource is.
func standIn(name string) string { return "stand-in for " + name }

// Synthesize runs the CDK CLI as `make synth` does (`cdk synth` from the
// repository root, which reads cdk.json: its "app" command and its context,
// the CLI's default settings added) into outDir, over stand-in function
// bundles and ffmpeg layer (`-c functionsDir`, `-c layerDir`: the template
// depends on their hashes, not their bytes). extra adds -c key=value pairs.
func Synthesize(ctx context.Context, root, outDir string, extra map[string]string) error {
	work, err := os.MkdirTemp("", "scenedex-standins-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	names, err := FunctionNames(root)
	if err != nil {
		return err
	}
	for _, name := range names {
		if err := writeFile(filepath.Join(work, "dist", name, "bootstrap"), standIn(name)); err != nil {
			return err
		}
	}
	if err := writeFile(filepath.Join(work, "layer", "bin", "ffmpeg"), "stand-in"); err != nil {
		return err
	}
	absOut, err := filepath.Abs(outDir)
	if err != nil {
		return err
	}
	args := []string{"synth", "--quiet", "--no-notices", "--output", absOut,
		"-c", "functionsDir=" + filepath.Join(work, "dist"), "-c", "layerDir=" + filepath.Join(work, "layer")}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "-c", k+"="+extra[k])
	}
	cmd := exec.CommandContext(ctx, filepath.Join(root, "infra", "_tools", "node_modules", ".bin", "cdk"), args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CDK_DEFAULT_ACCOUNT="+Account, "CDK_DEFAULT_REGION="+Region,
		"AWS_EC2_METADATA_DISABLED=true", "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("template: cdk synth: %w\n%s", err, tail(out, 4000))
	}
	return nil
}

// LoadWith synthesizes the stack with extra -c context values (cached on
// disk like Load's, keyed by them too) and parses it.
func LoadWith(ctx context.Context, root string, extra map[string]string) (*Stack, error) {
	dir, err := cachedSynth(ctx, root, extra)
	if err != nil {
		return nil, err
	}
	return Parse(dir)
}

// cachedSynth returns a cdk.out folder for the repository's current CDK app
// and extra context: from the disk cache when its key matches, else freshly
// synthesized.
func cachedSynth(ctx context.Context, root string, extra map[string]string) (string, error) {
	key, err := sourceKey(root, extra)
	if err != nil {
		return "", err
	}
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	dir := filepath.Join(base, "scenedex-harness", "template-"+key)
	if _, err := os.Stat(filepath.Join(dir, StackName+".template.json")); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "synth-")
	if err != nil {
		return "", err
	}
	if err := Synthesize(ctx, root, tmp, extra); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		if _, statErr := os.Stat(filepath.Join(dir, StackName+".template.json")); statErr == nil {
			return dir, nil // another test binary got there first
		}
		return "", err
	}
	return dir, nil
}

// sourceKey hashes what the template is made from: the CDK app's Go files
// (not its tests) and module files, cdk.json, the CDK CLI's lock file, the
// function list and the extra context.
func sourceKey(root string, extra map[string]string) (string, error) {
	h := sha256.New()
	var files []string
	all, _ := filepath.Glob(filepath.Join(root, "infra", "*.go"))
	for _, f := range all {
		if !strings.HasSuffix(f, "_test.go") { // tests make no template
			files = append(files, f)
		}
	}
	files = append(files, filepath.Join(root, "infra", "go.mod"), filepath.Join(root, "infra", "go.sum"),
		filepath.Join(root, "cdk.json"), filepath.Join(root, "infra", "_tools", "package-lock.json"))
	sort.Strings(files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("template: %w", err)
		}
		fmt.Fprintf(h, "%s %d\n", filepath.Base(f), len(b))
		h.Write(b)
	}
	names, err := FunctionNames(root)
	if err != nil {
		return "", err
	}
	fmt.Fprintln(h, strings.Join(names, ","))
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(h, "-c %s=%s\n", k, extra[k])
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

func writeFile(path, content string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(content), 0o755)
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// readJSON decodes a JSON file.
func readJSON(path string, v any) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
