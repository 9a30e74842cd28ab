#!/bin/bash
# A Go program's modules in the SBOM: a module built offline by the Go
# toolchain, with a dependency replaced by a local directory (so that its
# build info has a `dep` and a `=>` line), becomes the main module
# (GENERATED_FROM) and the dependency (STATIC_LINK) with their purls.
. "$(dirname "$0")/lib.sh"
command -v go >/dev/null 2>&1 || skip "go is not installed (Debian: golang-go; .ci/run installs it)"
PY=/usr/bin/python3
"$PY" -c 'import jsonschema' 2>/dev/null || skip "python3-jsonschema is not installed (.ci/run installs it)"

C="$WORK/ctx"
mkdir -p "$C/hello" "$C/greet"
cd "$C"
printf 'module example.com/greet\n\ngo 1.18\n' >greet/go.mod
printf 'package greet\n\nfunc Hello() string { return "hello" }\n' >greet/greet.go
cat >hello/go.mod <<'M'
module example.com/hello

go 1.18

require example.com/greet v1.4.2

replace example.com/greet => ../greet
M
printf 'package main\n\nimport (\n\t"os"\n\t"example.com/greet"\n)\n\nfunc main() { os.Stdout.WriteString(greet.Hello()) }\n' \
	>hello/main.go
(cd hello && GOFLAGS=-mod=mod GOPROXY=off GOCACHE="$WORK/gocache" GOPATH="$WORK/gopath" CGO_ENABLED=0 \
	go build -trimpath -o ../hello-bin .) || fail "go build (offline) of the fixture"
go version -m hello-bin | grep -q '=>' || fail "the fixture's build info has no replacement line: $(go version -m hello-bin)"

cat >app.yaml <<'Y'
name: distill-test/sbom-go
ca-certificates: false
contents:
  binaries:
    - {source: hello-bin, path: /usr/bin/hello}
Y
"$DISTILL" build app.yaml -o "$WORK/img.tar" --sbom "$WORK/go.spdx.json" --source-date-epoch 1700000000 \
	--no-cache -q || fail "distill build"
"$PY" "$SOURCE_DIR/tests/integration/sbom_ecosystem.py" "$WORK/go.spdx.json" "$SOURCE_DIR" go
echo "PASS: the Go program's main module and its dependency in the SBOM"
