# One instruction line (continuations joined, trimmed): KEYWORD [--flag ...] [rest].
# Lists are built as cons cells (head, tail) so long flag lists stay linear; see instruction-line.ts.
@preprocessor typescript
@{%
import { instructionLineLexer as lexer } from "../lexers.ts";
%}
@lexer lexer

line  -> %keyword                      {% (d) => ({ keyword: d[0], items: null }) %}
       | %keyword %sep args            {% (d) => ({ keyword: d[0], items: d[2] }) %}

args  -> %ws:? items                   {% (d) => d[1] %}

items -> %rest                         {% (d) => ({ head: d[0], tail: null }) %}
       | flags                         {% (d) => d[0] %}
       | flags %ws %rest               {% (d) => ({ head: d[2], tail: d[0] }) %}

flags -> %flag                         {% (d) => ({ head: d[0], tail: null }) %}
       | flags %ws %flag               {% (d) => ({ head: d[2], tail: d[0] }) %}
