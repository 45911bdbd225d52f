"""Text to graph: the lexer, the Lark parser, the syntax tree, block expansion and name rules."""
