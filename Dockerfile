# The riskmon image: `riskmon worker` by default (docker-compose.yml runs it).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY risk risk
COPY streams streams
COPY dashboards dashboards
RUN pip install --no-cache-dir -c constraints.txt . && useradd --system riskmon
USER riskmon
ENV RISKMON_WEB_HOST=0.0.0.0
EXPOSE 6066
ENTRYPOINT ["riskmon"]
CMD ["worker"]
