# Multi-stage build: compile with the full toolchain, ship only dist/, bin/ and production
# dependencies on Node 24, as a non-root user. GnuPG is not needed at run time: signatures are
# verified in-process. test/e2e/runtime-image.test.ts replays the runtime stage without Docker.
# The build context is src/, bin/ and the package and tsconfig files (.dockerignore): walkthrough
# and test material (walkthrough/, testbed/, test/) is outside the runtime build.
FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production CVO_VERIFIER_NODE=/usr/local/bin/node
WORKDIR /app
# Production dependencies only, exactly as locked. No install scripts: none of them needs one.
COPY package.json package-lock.json ./
# npm's cache and its logs (they record the command and the registry's address) stay out of it.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force \
  && rm -rf /root/.npm
COPY --from=build /src/dist ./dist
COPY bin ./bin
# A user database entry for UID 65532 with its own group. The kubelet passes an image's numeric
# USER on as runAsUser without its group, and the runtime then looks the group up here: without
# this entry the service would run with group 0 (root's), as the deploy test saw.
RUN groupadd --system --gid 65532 nonroot \
  && useradd --system --uid 65532 --gid 65532 --home-dir /nonexistent --no-create-home \
    --shell /usr/sbin/nologin nonroot
# Files stay owned by root and read-only to the service, which suits readOnlyRootFilesystem. A
# numeric UID lets Kubernetes check runAsNonRoot; OpenShift substitutes its own UID.
USER 65532:65532
# 8081: /healthz, /readyz, /metrics (plain HTTP); 8443: the admission webhook (HTTPS).
EXPOSE 8081 8443
ENTRYPOINT ["/app/bin/cvo-verifier"]
CMD ["--help"]
