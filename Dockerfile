# medseg web app on any server: the same set-up script as ./run.sh, server profile
# (sample data for the examples, no browser, no dev tools), CPU PyTorch wheels.
#
#   docker build -t medseg-app .
#   docker run --rm -p 127.0.0.1:7860:7860 -e MEDSEG_AUTH=alice:change-me medseg-app
#
# The container listens on all its interfaces (0.0.0.0) and refuses to start without a
# login (MEDSEG_REQUIRE_AUTH=1). See docs/hosting.md: never put patient data behind a
# public link.
FROM python:3.11-slim-bookworm

ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    PIP_INDEX_URL=https://download.pytorch.org/whl/cpu \
    PIP_EXTRA_INDEX_URL=https://pypi.org/simple \
    MEDSEG_SETUP=server \
    MEDSEG_REQUIRE_AUTH=1 \
    MEDSEG_CACHE=/home/medseg/.cache/medseg \
    GRADIO_ANALYTICS_ENABLED=False \
    MALLOC_ARENA_MAX=2

WORKDIR /app
COPY . .
RUN bash scripts/setup.sh && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 1000 medseg && chown -R medseg /app

USER medseg
EXPOSE 7860
CMD [".venv/bin/medseg", "app", "--host", "0.0.0.0", "--port", "7860"]
