// Package docker holds the container image and compose files of wcbridge
// (Dockerfile, compose.yaml, .env.example); it has no Go code. Its tests check
// the files against the sidecar's configuration, since no Docker engine runs
// in CI.
package docker
