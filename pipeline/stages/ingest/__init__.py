"""Ingest stage: scan → validate → account → load (see :mod:`pipeline.stages.ingest.load`)."""

from pipeline.stages.ingest.load import IngestResult, ingest_file
from pipeline.stages.ingest.scan import FileFacts, scan_file

__all__ = ["FileFacts", "IngestResult", "ingest_file", "scan_file"]
