"""The language server (`archdsl lsp`) and the editor support generated from the language.

Only `server.py` imports pygls; the features read one `Analysis` per document version and
answer in lsprotocol's types. `textmate.py` writes the VS Code grammar from the layer table
and the grammar's terminals.
"""
