"""The index: chunks -> vectors and lexical terms in a build directory, loaded for serving.

Owns the embedders and their engines (`embed`, `engines`; `e5_file`, the bundled e5's weights, run
by `e5_onnx` for queries and `e5_torch` for documents; `encoder` for the serving process's query
embeddings), the lexical index (`lexical`), the build (`build`), loading (`load`), the manifest
and its checks (`manifest`, `integrity`), the mapped chunk and structure files and the vector
stores (`stores/`: FAISS, Milvus).
May import: `assistant.ingest` and the shared top-level modules. Never query, answer, library or serve.
"""
