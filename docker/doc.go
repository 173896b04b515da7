// Package docker holds the container image and compose files of wcbridge
// (Dockerfile, compose.yaml, .env.example); it has no Go code. Its tests check
// the files against the sidecar's configuration and, where a Docker engine
// answers, build the image and run it.
package docker
