"""Extractive question answering over patient articles about refractory myeloma.

Pipeline, one module per stage, imports flowing one way:
corpus -> structure -> chunking -> embedding -> store/indexer -> retrieval -> answer -> present -> app / cli
"""

__version__ = "0.1.0"
