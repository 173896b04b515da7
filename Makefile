# wcbridge: common tasks. `make help` lists them.

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
GO      ?= go
DIST    ?= dist
LDFLAGS := -s -w -X main.Version=$(VERSION)
# The production build: static, no cgo, never the demo tag (the demo links an
# embedded database). docker/Dockerfile builds the same way.
BUILD   := CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)"

.PHONY: help test build demo release plugin-zip docker-check clean

help:
	@echo "make test          go vet and every test (set WCBRIDGE_TEST_MYSQL_DSN for MariaDB)"
	@echo "make build         ./wcbridge for this machine"
	@echo "make demo          run the demo shop (embedded database, simulators, one URL)"
	@echo "make release       static linux/amd64 and linux/arm64 binaries and SHA256SUMS in $(DIST)/"
	@echo "make plugin-zip    the WordPress plugin as $(DIST)/wcbridge-plugin-<version>.zip"
	@echo "make docker-check  check docker/ (Dockerfile, compose.yaml) without a Docker engine"

test:
	$(GO) vet ./...
	$(GO) test -count=1 ./...

build:
	$(BUILD) -o wcbridge ./cmd/wcbridge

demo:
	$(GO) run -tags demo ./cmd/wcbridge demo

release:
	@mkdir -p $(DIST)
	GOOS=linux GOARCH=amd64 $(BUILD) -o $(DIST)/wcbridge-$(VERSION)-linux-amd64 ./cmd/wcbridge
	GOOS=linux GOARCH=arm64 $(BUILD) -o $(DIST)/wcbridge-$(VERSION)-linux-arm64 ./cmd/wcbridge
	@if $(GO) version -m $(DIST)/wcbridge-$(VERSION)-linux-amd64 | grep -q dolthub; then \
		echo "release binary links the embedded database" >&2; exit 1; fi
	cd $(DIST) && sha256sum wcbridge-$(VERSION)-linux-amd64 wcbridge-$(VERSION)-linux-arm64 > SHA256SUMS
	@cat $(DIST)/SHA256SUMS

plugin-zip:
	sh plugin-php/build-zip.sh

docker-check:
	$(GO) test -count=1 ./docker/

clean:
	rm -f wcbridge
	rm -rf $(DIST)
