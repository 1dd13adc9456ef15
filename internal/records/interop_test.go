package records

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// interopScript decompresses what Compress wrote with kafka-python's codec
// module (xerial snappy detection, lz4 frames via python-lz4, zstandard) and
// compresses the same input its way for Decompress to read: independent
// implementations of the framings Kafka clients use.
const interopScript = `
import sys, os, gzip
import kafka.codec as c
d = sys.argv[1]
src = open(os.path.join(d, "src"), "rb").read()
dec = {"gzip": c.gzip_decode, "snappy": c.snappy_decode, "lz4": c.lz4_decode, "zstd": c.zstd_decode}
for name, fn in dec.items():
    got = fn(open(os.path.join(d, "ours." + name), "rb").read())
    if got != src:
        sys.exit("python cannot read our " + name)
enc = {
    "gzip": c.gzip_encode(src),
    "snappy": c.snappy_encode(src),
    "snappyraw": c.snappy_encode(src, xerial_compatible=False),
    "lz4": c.lz4_encode(src),
    "zstd": c.zstd_encode(src),
}
for name, b in enc.items():
    open(os.path.join(d, "theirs." + name), "wb").write(b)
`

// TestInteropPython runs when /usr/bin/python3 has kafka-python, python-snappy,
// python-lz4 and zstandard (Debian: python3-kafka python3-snappy python3-lz4
// python3-zstandard); it skips otherwise.
func TestInteropPython(t *testing.T) {
	const py = "/usr/bin/python3"
	if testing.Short() {
		t.Skip("short")
	}
	if err := exec.Command(py, "-c", "import kafka.codec, snappy, lz4.frame, zstandard").Run(); err != nil {
		t.Skip("python codecs not installed")
	}
	dir := t.TempDir()
	src := sample(200<<10, 11)
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("src", src)
	for _, c := range allCodecs[1:] {
		b, err := Compress(c, src)
		if err != nil {
			t.Fatal(err)
		}
		write("ours."+c.String(), b)
	}
	if out, err := exec.Command(py, "-c", interopScript, dir).CombinedOutput(); err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	for name, c := range map[string]Codec{"gzip": CodecGzip, "snappy": CodecSnappy, "snappyraw": CodecSnappy, "lz4": CodecLZ4, "zstd": CodecZstd} {
		b, err := os.ReadFile(filepath.Join(dir, "theirs."+name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decompress(c, b, len(src))
		if err != nil || !bytes.Equal(got, src) {
			t.Errorf("python's %s: %v", name, err)
		}
	}
}
