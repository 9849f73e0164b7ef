// Package manifest writes reproducibility manifests: next to every output
// file OUT a JSON file OUT.manifest.json recording the tool and its
// version, the normalized command-line flags, the SHA-256 of every input
// file, the config's contents, the rotation seed (profile) and the SHA-256
// and size of every output.
//
// An input that has its own manifest, written after the file last changed,
// is not read again: the SHA-256 recorded there is used (see recordedHash).
// Nor is an input that the manifest of another input of the same run lists
// among its inputs, under the same size, written after the file last
// changed (see upstreamHash): exportqnn and exportrot take the checkpoint's
// hashes from the manifest profile wrote next to the scale file and R file.
//
// A manifest holds nothing that differs between two identical runs: no
// timestamps, no host names, and paths exactly as they were given (never
// made absolute). Two runs with the same inputs, flags and binaries from
// the same working-directory-relative paths therefore give byte-identical
// manifests. The manifest is written atomically (pkg/atomicfile) after the
// outputs are committed; a missing manifest means the run did not finish.
package manifest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/qnnkit/qnnkit/pkg/atomicfile"
	"github.com/urfave/cli/v3"
)

// Suffix is appended to an output path to name its manifest.
const Suffix = ".manifest.json"

// File is one hashed file.
type File struct {
	Role   string `json:"role,omitempty"` // what the file is to the tool (config, checkpoint, scale_file, ...)
	Path   string `json:"path"`           // as given on the command line or in the config
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Manifest is the content of a .manifest.json file.
type Manifest struct {
	Tool    string `json:"tool"`
	Version string `json:"version"`
	// Args are the flags that were set, as "--name=value" sorted by name,
	// followed by the positional arguments in order.
	Args []string `json:"args"`
	// Config is the config file's JSON (re-indented), when the tool read one.
	Config json.RawMessage `json:"config,omitempty"`
	// Seed is the rotation seed (profile's --seed), when one was given.
	Seed    *uint64 `json:"seed,omitempty"`
	Inputs  []File  `json:"inputs"`
	Outputs []File  `json:"outputs"`

	// known are outputs hashed while they were written, by path.
	known map[string]File
	// upstream are the manifests of this run's inputs (see upstreamHash).
	upstream []upstream
}

// Release is qnnkit's version number, recorded in every manifest.
const Release = "0.1.0"

// Version identifies the build: "qnnkit" and Release, then the module
// version when it is a tagged one, and the VCS commit when the binary was
// built from a checkout with VCS stamping ("+dirty" when the tree had local
// changes; go build -buildvcs=false leaves it out).
func Version() string {
	v := "qnnkit " + Release
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if mv := bi.Main.Version; mv != "" && mv != "(devel)" {
		v += " " + mv
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev != "" {
		v += " " + rev
		if modified == "true" {
			v += "+dirty"
		}
	}
	return v
}

// New starts the manifest of a run of cmd: tool name, version and the
// normalized flags and arguments.
func New(cmd *cli.Command) *Manifest {
	m := &Manifest{Tool: cmd.Root().Name, Version: Version(), Args: Args(cmd), Inputs: []File{}, Outputs: []File{}}
	if cmd != cmd.Root() {
		m.Tool = cmd.FullName()
	}
	return m
}

// Args normalizes cmd's command line: every flag that was set as
// "--name=value" (the flag's first name, sorted), then the positional
// arguments. Flag order and -x/--x spelling therefore do not matter.
func Args(cmd *cli.Command) []string {
	var out []string
	for _, f := range cmd.Flags {
		names := f.Names()
		if len(names) == 0 || !cmd.IsSet(names[0]) {
			continue
		}
		out = append(out, fmt.Sprintf("--%s=%v", names[0], cmd.Value(names[0])))
	}
	sort.Strings(out)
	return append(out, cmd.Args().Slice()...)
}

// SetConfig records the contents of the config file at path (re-indented
// JSON) and adds the file to the inputs.
func (m *Manifest) SetConfig(path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("manifest: config: %w", err)
	}
	var b bytes.Buffer
	if err := json.Indent(&b, bytes.TrimSpace(raw), "  ", "  "); err != nil {
		return fmt.Errorf("manifest: config %s: %w", path, err)
	}
	m.Config = b.Bytes()
	return m.AddInput("config", path)
}

// AddInput hashes the file at path, or every regular file under it when it
// is a directory (in lexical order, paths joined to path as given), and
// records it under role. An empty path is ignored.
func (m *Manifest) AddInput(role, path string) error {
	if path == "" {
		return nil
	}
	files, err := hashTree(role, path, m.upstream)
	if err != nil {
		return fmt.Errorf("manifest: input %s: %w", path, err)
	}
	m.Inputs = append(m.Inputs, files...)
	return nil
}

// AddCheckpoint records a checkpoint: a file, a directory (all its files),
// or a sharded index JSON together with every shard its weight_map names.
func (m *Manifest) AddCheckpoint(path string) error {
	if err := m.AddInput("checkpoint", path); err != nil {
		return err
	}
	if !strings.HasSuffix(path, ".json") {
		return nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("manifest: input %s: %w", path, err)
	}
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if json.Unmarshal(raw, &idx) != nil || len(idx.WeightMap) == 0 {
		return nil
	}
	shards := map[string]bool{}
	for _, f := range idx.WeightMap {
		shards[f] = true
	}
	names := make([]string, 0, len(shards))
	for f := range shards {
		names = append(names, f)
	}
	sort.Strings(names)
	for _, f := range names {
		if err := m.AddInput("checkpoint", filepath.Join(filepath.Dir(path), f)); err != nil {
			return err
		}
	}
	return nil
}

// SetOutputHash records the size and SHA-256 (hex) of output path,
// computed while it was written, so that Commit does not read it back.
func (m *Manifest) SetOutputHash(path string, size int64, sha256 string) {
	if m.known == nil {
		m.known = map[string]File{}
	}
	m.known[path] = File{Path: path, Size: size, SHA256: sha256}
}

// Commit hashes the outputs (already committed files; those given to
// SetOutputHash are not read again) and writes the manifest, listing all
// of them, next to each: OUT.manifest.json.
func (m *Manifest) Commit(outputs ...string) error {
	m.Outputs = m.Outputs[:0]
	for _, p := range outputs {
		f, ok := m.known[p]
		if !ok {
			var err error
			if f, err = hashFile("", p, nil); err != nil {
				return fmt.Errorf("manifest: output %s: %w", p, err)
			}
		}
		m.Outputs = append(m.Outputs, f)
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	data = append(data, '\n')
	for _, p := range outputs {
		if err := atomicfile.WriteFile(p+Suffix, data); err != nil {
			return fmt.Errorf("manifest: %w", err)
		}
	}
	return nil
}

// Input is one input of a run for Write.
type Input struct {
	Role string // "checkpoint" (see AddCheckpoint), "scale_file", "R_path", ...
	Path string // as given; "" is ignored
}

// Run describes a finished run for Write.
type Run struct {
	Config string  // config file path ("" if none)
	Seed   *uint64 // rotation seed, if one was given
	Inputs []Input
	// Hashed are outputs whose Size and SHA256 were computed while they
	// were written (Path as passed to Write); other outputs are read back.
	Hashed []File
}

// Write is the one call a command makes after committing its outputs: it
// builds the manifest of cmd's run r and writes it next to every output.
func Write(cmd *cli.Command, r Run, outputs ...string) error {
	return Start(cmd, r).Finish(outputs...)
}

// Pending is a manifest whose inputs are being hashed (see Start).
type Pending struct {
	m    *Manifest
	r    Run
	err  error
	done chan struct{}
}

// Start begins the manifest of cmd's run r and hashes r's config and
// inputs in the background, so that a command can hash its inputs while
// it computes its outputs; Finish completes it. The inputs are hashed as
// they are when Start is called (a command reads them after that).
func Start(cmd *cli.Command, r Run) *Pending {
	p := &Pending{m: New(cmd), r: r, done: make(chan struct{})}
	p.m.Seed = r.Seed
	go func() {
		defer close(p.done)
		p.err = p.m.addInputs(r)
	}()
	return p
}

// Finish waits for the inputs' hashes, records r.Hashed and any hash
// given to SetOutputHash, hashes the other outputs (already committed
// files) and writes the manifest next to every output.
func (p *Pending) Finish(outputs ...string) error {
	<-p.done
	if p.err != nil {
		return p.err
	}
	for _, f := range p.r.Hashed {
		p.m.SetOutputHash(f.Path, f.Size, f.SHA256)
	}
	return p.m.Commit(outputs...)
}

// SetOutputHash is Manifest.SetOutputHash for the pending manifest.
func (p *Pending) SetOutputHash(path string, size int64, sha256 string) {
	p.r.Hashed = append(p.r.Hashed, File{Path: path, Size: size, SHA256: sha256})
}

// addInputs records r's config and inputs.
func (m *Manifest) addInputs(r Run) error {
	m.upstream = upstreamManifests(r)
	if r.Config != "" {
		if err := m.SetConfig(r.Config); err != nil {
			return err
		}
	}
	for _, in := range r.Inputs {
		var err error
		if in.Role == "checkpoint" {
			err = m.AddCheckpoint(in.Path)
		} else {
			err = m.AddInput(in.Role, in.Path)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Read decodes the manifest at path.
func Read(path string) (*Manifest, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", path, err)
	}
	return &m, nil
}

func hashTree(role, path string, ups []upstream) ([]File, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		f, err := hashFile(role, path, ups)
		if err != nil {
			return nil, err
		}
		return []File{f}, nil
	}
	var files []File
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != path && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil // hidden files (editor state, stray .tmp-* files)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		f, err := hashFile(role, p, ups)
		if err != nil {
			return err
		}
		files = append(files, f)
		return nil
	})
	return files, err
}

func hashFile(role, path string, ups []upstream) (File, error) {
	f, err := os.Open(path)
	if err != nil {
		return File{}, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil {
		sum, ok := recordedHash(path, st)
		if !ok {
			sum, ok = upstreamHash(st, ups)
		}
		if ok {
			return File{Role: role, Path: path, Size: st.Size(), SHA256: sum}, nil
		}
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return File{}, fmt.Errorf("read %s: %w", path, err)
	}
	return File{Role: role, Path: path, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// recordedHash returns the SHA-256 that path's own manifest (path+Suffix,
// written by the qnnkit tool that made the file) records for it, if that
// manifest was written after the file last changed (its ctime, which no
// tool can set back, is strictly before the manifest's mtime) and records
// the file's size: the output of one step is then not read again to hash
// it as the next step's input (7 GB of SHA-256 is about 5 CPU-seconds).
func recordedHash(path string, st os.FileInfo) (string, bool) {
	ms, err := os.Stat(path + Suffix)
	if err != nil {
		return "", false
	}
	ctime, ok := changeTime(st)
	if !ok || !ctime.Before(ms.ModTime()) {
		return "", false
	}
	m, err := Read(path + Suffix)
	if err != nil {
		return "", false
	}
	for _, o := range m.Outputs {
		if filepath.Base(o.Path) == filepath.Base(path) && o.Size == st.Size() && validSHA256(o.SHA256) {
			return o.SHA256, true
		}
	}
	return "", false
}

func validSHA256(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil && len(s) == 2*sha256.Size
}

// upstream is the manifest of one of a run's inputs, with the time it was
// written.
type upstream struct {
	m     *Manifest
	mtime time.Time
}

// upstreamManifests reads the manifests next to r's input files (a scale
// file's, an R file's: written by the profile run that read the
// checkpoint). Unreadable or missing manifests are skipped: they only
// save work.
func upstreamManifests(r Run) []upstream {
	var ups []upstream
	for _, in := range r.Inputs {
		if in.Path == "" {
			continue
		}
		ms, err := os.Stat(in.Path + Suffix)
		if err != nil || !ms.Mode().IsRegular() {
			continue
		}
		if m, err := Read(in.Path + Suffix); err == nil {
			ups = append(ups, upstream{m, ms.ModTime()})
		}
	}
	return ups
}

// upstreamHash returns the SHA-256 an upstream manifest records for the
// file st among its inputs: an entry whose path, resolved from the current
// directory, is the same file (device and inode), with st's size, in a
// manifest written after the file last changed (its ctime is strictly
// before the manifest's mtime, as for recordedHash). A manifest written
// from another directory whose relative paths do not resolve to the file
// simply gives no match.
func upstreamHash(st os.FileInfo, ups []upstream) (string, bool) {
	ctime, ok := changeTime(st)
	if !ok {
		return "", false
	}
	for _, u := range ups {
		if !ctime.Before(u.mtime) {
			continue
		}
		for _, in := range u.m.Inputs {
			if in.Size != st.Size() || !validSHA256(in.SHA256) {
				continue
			}
			if ist, err := os.Stat(in.Path); err == nil && os.SameFile(ist, st) {
				return in.SHA256, true
			}
		}
	}
	return "", false
}
