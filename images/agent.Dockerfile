# The VCoin agent image: the project with its worker extra, run as a
# non-root user. Built by `vcoin provider image build`, which supplies the
# build context: `deps/` (wheels of every dependency) and `project/` (the
# project's own wheel). No registry is needed: BASE is a Debian root made
# from packages (mmdebstrap) and imported into Docker.
ARG BASE=vcoin/base:bookworm
FROM ${BASE} AS deps
COPY deps/ /wheels/
# The dependencies change far less often than the project: their layer stays cached.
RUN python3 -m venv /opt/vcoin \
    && /opt/vcoin/bin/pip install --no-index --no-cache-dir --disable-pip-version-check \
       --find-links /wheels /wheels/*.whl

FROM ${BASE}
RUN useradd --uid 10001 --user-group --no-create-home --home-dir /tmp --shell /usr/sbin/nologin agent
COPY --from=deps /opt/vcoin /opt/vcoin
COPY project/ /opt/project/
RUN /opt/vcoin/bin/pip install --no-index --no-deps --no-cache-dir --disable-pip-version-check /opt/project/*.whl \
    && rm -rf /opt/project
ENV PATH=/opt/vcoin/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/tmp \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
WORKDIR /tmp
CMD ["python", "-m", "agent.runner", "--help"]
