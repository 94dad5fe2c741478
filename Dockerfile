FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY pyproject.toml README.md ./
COPY core core
COPY api api
COPY agent agent
COPY ingestion ingestion
COPY evals evals
COPY inferra inferra
RUN pip install --no-cache-dir .
EXPOSE 8000
CMD ["inferra", "serve", "--host", "0.0.0.0", "--port", "8000"]
