# The Tributary image: one static binary that runs every role (tributary,
# and manager, driver and executor linked to it), as a non-root user on a
# distroless base. `make image-tar` writes the same layout without Docker.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/tributary-dev/tributary/internal/cli.Version=${VERSION}" \
      -o /out/tributary ./cmd/tributary && \
    ln -s tributary /out/manager && ln -s tributary /out/driver && ln -s tributary /out/executor

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ /usr/local/bin/
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/tributary"]
