# lbprov image: build on Debian bookworm, run on bookworm-slim with only the
# shared libraries lbprov links, as a non-root user.
#
#   docker build -t <registry>/lbprov:0.1.0 .
#
# from the top of the source tree is all it takes: nothing needs building
# or installing on the host first, and .dockerignore keeps host build trees
# out of the context. Push the image where the cluster's nodes pull from
# before `kubectl apply -k examples/deploy` (examples/deploy/README.md).
FROM debian:bookworm AS build
WORKDIR /src
# Only what the build needs: no test tools, no services.
COPY scripts/install-deps scripts/install-deps
RUN scripts/install-deps build && rm -rf /var/lib/apt/lists/*
COPY . .
# A fresh build tree, whatever the context holds.
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF \
 && cmake --build /build -j "$(nproc)" \
 && strip /build/cmd/lbprov

FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates libcurl4 libssl3 libjson-c5 libxml2 libyaml-0-2 libmicrohttpd12 libcap2 libinih1 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /build/cmd/lbprov /usr/local/bin/lbprov
# 65532 is the conventional "nonroot" uid, and the controller runs as it.
# The speaker's pod spec overrides it with uid 0 and every capability
# dropped but NET_RAW: Kubernetes gives an added capability to a non-root
# user only in the bounding set, not the effective one. lbprov speaker also
# drops to CAP_NET_RAW by itself at start.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/lbprov"]
