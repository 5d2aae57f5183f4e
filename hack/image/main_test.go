package main

import (
	"archive/tar"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// The tarball loads back as an image with the binary, a link per role, a
// non-root user and the binary as entrypoint; building twice gives the
// same image.
func TestTheImageHoldsEveryRoleAndRunsAsNonRoot(t *testing.T) {
	dir := t.TempDir()
	binary := filepath.Join(dir, "tributary")
	if err := os.WriteFile(binary, []byte("#!/bin/true\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "image.tar")
	if err := run(binary, "example.com/tributary:test", out, tributary); err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Config.User != "65532:65532" || !slices.Equal(cfg.Config.Entrypoint, []string{"/usr/local/bin/tributary"}) || cfg.OS != "linux" {
		t.Errorf("config: user %q, entrypoint %v, os %s", cfg.Config.User, cfg.Config.Entrypoint, cfg.OS)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("%d layers, %v", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files := map[string]string{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = h.Linkname
	}
	for _, role := range []string{"manager", "driver", "executor"} {
		if files["usr/local/bin/"+role] != "tributary" {
			t.Errorf("no link for %s: %v", role, files)
		}
	}
	first, err := build(binary, tributary)
	if err != nil {
		t.Fatal(err)
	}
	again, err := build(binary, tributary)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := first.Digest()
	d2, _ := again.Digest()
	if d1 != d2 {
		t.Errorf("two builds differ: %s, %s", d1, d2)
	}
}
