// Command image writes Tributary's container image as a tarball without
// Docker: one layer holding the static tributary binary, with manager,
// driver and executor linked to it, running as a non-root user. It also
// writes the local cluster's pause image (./pause) the same way. The same
// image runs the operator and every job pod; `docker load` and
// `ctr images import` take the tarball. This module is build tooling only:
// the product does not depend on it.
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Where the binary goes, and the user the image runs as (distroless's
// nonroot, so that runAsNonRoot is satisfied by a numeric user).
const (
	binDir = "usr/local/bin/"
	user   = "65532:65532"
)

func main() {
	binary := flag.String("binary", "", "the static binary (CGO_ENABLED=0)")
	tag := flag.String("tag", "tributary:dev", "the image's name and tag")
	out := flag.String("out", "tributary-image.tar", "the tarball to write")
	cmd := flag.String("name", "tributary", "the binary's name in the image: /usr/local/bin/NAME, the entrypoint")
	// The roles are linked to tributary, which dispatches on its name.
	links := flag.String("links", "manager,driver,executor", "names linked to the binary, comma-separated")
	flag.Parse()
	img := spec{name: *cmd}
	if *links != "" {
		img.links = strings.Split(*links, ",")
	}
	if err := run(*binary, *tag, *out, img); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

// spec is what goes into an image besides the binary.
type spec struct {
	name  string   // the binary's file name, and the entrypoint
	links []string // other names for it
}

var tributary = spec{name: "tributary", links: []string{"manager", "driver", "executor"}}

func run(binary, tag, out string, s spec) error {
	img, err := build(binary, s)
	if err != nil {
		return err
	}
	ref, err := name.NewTag(tag)
	if err != nil {
		return fmt.Errorf("tag %q: %w", tag, err)
	}
	if err := tarball.WriteToFile(out, ref, img); err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	return nil
}

// build returns the image: no base, one layer, the binary as entrypoint.
func build(binary string, s spec) (v1.Image, error) {
	data, err := os.ReadFile(binary)
	if err != nil {
		return nil, err
	}
	layerTar, err := layerOf(data, s)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), layer)
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.Architecture, cfg.OS = "amd64", "linux"
	cfg.Config.Entrypoint = []string{"/" + binDir + s.name}
	cfg.Config.User = user
	cfg.Config.WorkingDir = "/"
	cfg.Config.Env = []string{"PATH=/usr/local/bin"}
	cfg.Created = v1.Time{Time: time.Unix(0, 0)} // reproducible
	return mutate.ConfigFile(img, cfg)
}

// layerOf is the layer's tar: the directories, the binary, and a link per
// role. Timestamps are fixed so that the same binary gives the same image.
func layerOf(binary []byte, s spec) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	for _, dir := range []string{"usr/", "usr/local/", binDir, "tmp/"} {
		mode := int64(0o755)
		if dir == "tmp/" {
			mode = 0o1777
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: mode, ModTime: epoch}); err != nil {
			return nil, err
		}
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: binDir + s.name, Mode: 0o755, Size: int64(len(binary)), ModTime: epoch}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(binary); err != nil {
		return nil, err
	}
	for _, link := range s.links {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: binDir + link, Linkname: s.name, Mode: 0o777, ModTime: epoch}); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
