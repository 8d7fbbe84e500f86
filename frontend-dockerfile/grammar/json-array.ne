# The first JSON value of a maybe-JSON argument, which must be an array (BuildKit parseJSON).
# Elements are kept as cons cells (head, tail); only strings carry their token.
@preprocessor typescript
@{%
import { jsonLexer as lexer } from "../lexers.ts";
%}
@lexer lexer

main     -> array                                  {% (d) => d[0] %}

array    -> %lbracket _ %rbracket                  {% () => ({ type: "array", items: null }) %}
          | %lbracket _ elements _ %rbracket       {% (d) => ({ type: "array", items: d[2] }) %}

elements -> value                                  {% (d) => ({ head: d[0], tail: null }) %}
          | elements _ %comma _ value              {% (d) => ({ head: d[4], tail: d[0] }) %}

value    -> %string                                {% (d) => ({ type: "string", token: d[0] }) %}
          | %number                                {% () => ({ type: "number" }) %}
          | %literal                               {% (d) => ({ type: d[0].value === "null" ? "null" : "boolean" }) %}
          | array                                  {% () => ({ type: "array" }) %}
          | object                                 {% () => ({ type: "object" }) %}

object   -> %lbrace _ %rbrace                      {% () => null %}
          | %lbrace _ members _ %rbrace            {% () => null %}

members  -> member                                 {% () => null %}
          | members _ %comma _ member              {% () => null %}

member   -> %string _ %colon _ value               {% () => null %}

_        -> null                                   {% () => null %}
          | %ws                                    {% () => null %}
