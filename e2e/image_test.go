package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// imageConfig is the part of `podman image inspect` the image test reads:
// how a container of the image runs.
type imageConfig struct {
	Size   int64
	Config struct {
		User         string
		ExposedPorts map[string]struct{}
		Env          []string
		Entrypoint   []string
		Cmd          []string
		Volumes      map[string]struct{}
		WorkingDir   string
		Labels       map[string]string
	}
}

// TestImage builds the container image's final stage from the Dockerfile,
// from a static binary built here (no base image can be pulled), checks its
// metadata, and runs its filesystem as a container would: exported with
// podman, the entrypoint started in a chroot as the image's user in its
// working directory, against a real Pushgateway and Prometheus. It must
// start with the default --storage.path, become ready and forward.
//
// podman run is not used: it needs setrlimit, which the sandbox CI runs in
// refuses. Podman keeps its storage (vfs, no mounts) and run state in the
// test's temp dir; only its blob info cache goes to /var/lib/containers.
func TestImage(t *testing.T) {
	t.Parallel()
	if os.Getuid() != 0 {
		t.Fatal("the image test extracts the image with its owners and chroots into it: run it as root (CI does)")
	}
	start := time.Now()
	pm := newPodman(t)
	dir := t.TempDir()

	// The prebuilt path of the Dockerfile: .build/ holds the binary, the CA
	// bundle and the empty data/ folder the volume starts as.
	buildDir := filepath.Join(dir, "context", ".build")
	if err := os.MkdirAll(filepath.Join(buildDir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	gobuild := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w",
		"-o", filepath.Join(buildDir, "pushgateway-bridge"), "../cmd/pushgateway-bridge")
	gobuild.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := gobuild.CombinedOutput(); err != nil {
		t.Fatalf("build static bridge: %v\n%s", err, out)
	}
	certs, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		t.Fatalf("CA bundle for the image: %v (Debian's ca-certificates provides it)", err)
	}
	if err := os.WriteFile(filepath.Join(buildDir, "ca-certificates.crt"), certs, 0o644); err != nil {
		t.Fatal(err)
	}
	const tag = "localhost/pushgateway-bridge:e2e"
	pm.run("build", "--build-arg", "BINARY=prebuilt", "-f", "../Dockerfile", "-t", tag, filepath.Join(dir, "context"))
	t.Logf("image built in %v", time.Since(start).Round(100*time.Millisecond))

	var inspected []imageConfig
	if err := json.Unmarshal(pm.run("image", "inspect", tag), &inspected); err != nil || len(inspected) != 1 {
		t.Fatalf("podman image inspect: %d images, %v", len(inspected), err)
	}
	img := inspected[0]
	cfg := img.Config
	meta, _ := json.MarshalIndent(cfg, "", "  ")
	t.Logf("image size %d bytes (%.1f MiB), config:\n%s", img.Size, float64(img.Size)/(1<<20), meta)

	uid, gid := imageUser(t, cfg.User)
	if uid == 0 {
		t.Errorf("image user %q: runs as root", cfg.User)
	}
	if _, ok := cfg.ExposedPorts["9098/tcp"]; !ok {
		t.Errorf("exposed ports %q: want 9098/tcp", slices.Sorted(maps.Keys(cfg.ExposedPorts)))
	}
	if !path.IsAbs(cfg.WorkingDir) || cfg.WorkingDir == "/" {
		t.Errorf("working dir %q: want a folder of its own, where the default --storage.path=data/ lands", cfg.WorkingDir)
	}
	if _, ok := cfg.Volumes[cfg.WorkingDir]; !ok || len(cfg.Volumes) != 1 {
		t.Errorf("volumes %v: want the working dir %s, which holds the queues and state", cfg.Volumes, cfg.WorkingDir)
	}
	for _, l := range []string{"title", "description", "source", "url", "documentation", "version", "authors"} {
		if cfg.Labels["org.opencontainers.image."+l] == "" {
			t.Errorf("label org.opencontainers.image.%s missing", l)
		}
	}
	if len(cfg.Entrypoint) == 0 {
		t.Fatal("image has no entrypoint")
	}
	// docker run's arguments replace Cmd: with none, they are exactly the
	// flags the entrypoint gets, as the README's docker run shows.
	if len(cfg.Cmd) != 0 {
		t.Errorf("cmd %q: want none, so that docker run's arguments are the bridge's whole command line", cfg.Cmd)
	}
	if t.Failed() {
		t.FailNow()
	}

	// The image's filesystem, owners kept.
	rootfs := filepath.Join(dir, "rootfs")
	if err := os.Mkdir(rootfs, 0o755); err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSpace(string(pm.run("create", tag)))
	tarball := filepath.Join(dir, "rootfs.tar")
	pm.run("export", "-o", tarball, id)
	pm.run("rm", id)
	if out, err := exec.Command("tar", "--numeric-owner", "-xpf", tarball, "-C", rootfs).CombinedOutput(); err != nil {
		t.Fatalf("extract %s: %v\n%s", tarball, err, out)
	}
	workDir := filepath.Join(rootfs, cfg.WorkingDir)
	if owner := ownerOf(t, workDir); owner != [2]uint32{uid, gid} {
		t.Fatalf("working dir %s owned by %d:%d, want the image's user %d:%d", cfg.WorkingDir, owner[0], owner[1], uid, gid)
	}

	g := startPushgateway(t)
	r := startPrometheusReceiver(t, 0)
	mustPush(t, g.URL, http.MethodPut, groupPath("image", "env", "test"), "# TYPE e2e_image_gauge gauge\ne2e_image_gauge 17\n")

	// Cmd is empty (checked above), so this is docker run IMAGE args...
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	argv := slices.Concat(cfg.Entrypoint, cfg.Cmd, []string{
		"--web.listen-address=" + addr,
		"--pushgateway.url=" + g.URL,
		"--remote-write.url=" + r.WriteURL,
		"--scrape.interval=1s",
	})
	cmd := &exec.Cmd{
		Path: argv[0],
		Args: argv,
		Env:  cfg.Env,
		// Go chroots, then drops to the user, then changes directory: Dir
		// is a path inside the image.
		Dir: cfg.WorkingDir,
		SysProcAttr: &syscall.SysProcAttr{
			Chroot:     rootfs,
			Credential: &syscall.Credential{Uid: uid, Gid: gid},
		},
	}
	out := &syncBuffer{}
	logOnFailure(t, "bridge in the image "+addr, out)
	p := startCmd(t, "bridge (image)", out, cmd)
	t.Cleanup(func() {
		if err := p.stop(); err != nil {
			t.Errorf("bridge in the image: exit: %v", err)
		}
	})
	waitHTTP200(t, p, "http://"+addr+"/-/ready")
	eventually(t, arrive, func() error {
		return expectVector(r.URL, `e2e_image_gauge`, `e2e_image_gauge{env="test",job="image"} 17`)
	})

	// The queues and state went to data/ in the volume, as the image's user.
	data := filepath.Join(workDir, "data")
	entries, err := os.ReadDir(data)
	if err != nil {
		t.Fatalf("default --storage.path in the image: %v", err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if owner := ownerOf(t, data); owner != [2]uint32{uid, gid} {
		t.Errorf("%s owned by %d:%d, want %d:%d", path.Join(cfg.WorkingDir, "data"), owner[0], owner[1], uid, gid)
	}
	if !slices.Contains(names, "lock") {
		t.Errorf("%s holds %q: no lock, the bridge did not use it", path.Join(cfg.WorkingDir, "data"), names)
	}
	lines := strings.SplitAfter(out.String(), "\n")
	t.Logf("%s holds %q; the bridge's first log lines:\n%s", path.Join(cfg.WorkingDir, "data"), names, strings.Join(lines[:min(len(lines), 8)], ""))
	t.Logf("image built, run and forwarding in %v", time.Since(start).Round(100*time.Millisecond))
}

// imageUser parses the image's USER, numeric uid:gid as the Dockerfile
// sets it: a scratch image has no /etc/passwd to resolve a name.
func imageUser(t *testing.T, user string) (uid, gid uint32) {
	t.Helper()
	u, g, ok := strings.Cut(user, ":")
	uid64, err1 := strconv.ParseUint(u, 10, 32)
	gid64, err2 := strconv.ParseUint(g, 10, 32)
	if !ok || err1 != nil || err2 != nil {
		t.Fatalf("image user %q: want numeric uid:gid", user)
	}
	return uint32(uid64), uint32(gid64)
}

// ownerOf returns the uid and gid owning path.
func ownerOf(t *testing.T, path string) [2]uint32 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return [2]uint32{st.Uid, st.Gid}
}

// podman runs Debian's podman (scripts/peers.sh installs it and links it
// next to the other peers) with its storage, run state and events in a temp
// dir of the test: the vfs driver, which needs no mounts, and cgroupfs with
// file events, which need no systemd.
type podman struct {
	t   *testing.T
	bin string
	env []string
}

func newPodman(t *testing.T) *podman {
	t.Helper()
	bin := filepath.Join(filepath.Dir(pushgatewayBin), "podman")
	if err := checkExecutable(bin); err != nil {
		t.Fatalf("podman: %v (scripts/peers.sh installs it)", err)
	}
	dir := t.TempDir()
	storageConf := filepath.Join(dir, "storage.conf")
	containersConf := filepath.Join(dir, "containers.conf")
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		storageConf: fmt.Sprintf("[storage]\ndriver = \"vfs\"\ngraphroot = %q\nrunroot = %q\n",
			filepath.Join(dir, "root"), filepath.Join(dir, "runroot")),
		containersConf: fmt.Sprintf("[engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\nevents_logfile_path = %q\ntmp_dir = %q\n",
			filepath.Join(dir, "events.log"), filepath.Join(dir, "libpod")),
	}
	for name, text := range files {
		if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "CONTAINERS_") || strings.HasPrefix(kv, "TMPDIR=")
	})
	env = append(env, "CONTAINERS_STORAGE_CONF="+storageConf, "CONTAINERS_CONF="+containersConf, "TMPDIR="+tmp)
	return &podman{t: t, bin: bin, env: env}
}

// run runs podman with args and returns its stdout, failing the test on
// error.
func (p *podman) run(args ...string) []byte {
	p.t.Helper()
	cmd := exec.Command(p.bin, args...)
	cmd.Env = p.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		p.t.Fatalf("podman %s: %v\n%s%s", strings.Join(args, " "), err, stdout.Bytes(), stderr.Bytes())
	}
	return stdout.Bytes()
}
