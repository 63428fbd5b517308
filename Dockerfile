# The riskmon image: `riskmon worker` by default (docker-compose.yml runs it).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY risk risk
COPY streams streams
COPY dashboards dashboards
RUN pip install --no-cache-dir -c constraints.txt . && useradd --system riskmon
# Compile the engine's numba kernels into the image (their cache sits beside the installed
# sources), so a worker starts in a second instead of compiling for ~20 s on every start.
RUN python -c "from risk.engine.warmup import warm_up; warm_up()"
USER riskmon
ENV RISKMON_WEB_HOST=0.0.0.0
EXPOSE 6066
ENTRYPOINT ["riskmon"]
CMD ["worker"]
