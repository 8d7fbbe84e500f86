// Generated automatically by nearley, version 2.20.1
// http://github.com/Hardmath123/nearley
// Bypasses TS6133. Allow declared but unused functions.
// @ts-ignore
function id(d: any[]): any { return d[0]; }
declare var lbracket: any;
declare var rbracket: any;
declare var comma: any;
declare var string: any;
declare var number: any;
declare var literal: any;
declare var lbrace: any;
declare var rbrace: any;
declare var colon: any;
declare var ws: any;

import { jsonLexer as lexer } from "../lexers.ts";

interface NearleyToken {
  value: any;
  [key: string]: any;
};

interface NearleyLexer {
  reset: (chunk: string, info: any) => void;
  next: () => NearleyToken | undefined;
  save: () => any;
  formatError: (token: never) => string;
  has: (tokenType: string) => boolean;
};

interface NearleyRule {
  name: string;
  symbols: NearleySymbol[];
  postprocess?: (d: any[], loc?: number, reject?: {}) => any;
};

type NearleySymbol = string | { literal: any } | { test: (token: any) => boolean };

interface Grammar {
  Lexer: NearleyLexer | undefined;
  ParserRules: NearleyRule[];
  ParserStart: string;
};

const grammar: Grammar = {
  Lexer: lexer,
  ParserRules: [
    {"name": "main", "symbols": ["array"], "postprocess": (d) => d[0]},
    {"name": "array", "symbols": [(lexer.has("lbracket") ? {type: "lbracket"} : lbracket), "_", (lexer.has("rbracket") ? {type: "rbracket"} : rbracket)], "postprocess": () => ({ type: "array", items: null })},
    {"name": "array", "symbols": [(lexer.has("lbracket") ? {type: "lbracket"} : lbracket), "_", "elements", "_", (lexer.has("rbracket") ? {type: "rbracket"} : rbracket)], "postprocess": (d) => ({ type: "array", items: d[2] })},
    {"name": "elements", "symbols": ["value"], "postprocess": (d) => ({ head: d[0], tail: null })},
    {"name": "elements", "symbols": ["elements", "_", (lexer.has("comma") ? {type: "comma"} : comma), "_", "value"], "postprocess": (d) => ({ head: d[4], tail: d[0] })},
    {"name": "value", "symbols": [(lexer.has("string") ? {type: "string"} : string)], "postprocess": (d) => ({ type: "string", token: d[0] })},
    {"name": "value", "symbols": [(lexer.has("number") ? {type: "number"} : number)], "postprocess": () => ({ type: "number" })},
    {"name": "value", "symbols": [(lexer.has("literal") ? {type: "literal"} : literal)], "postprocess": (d) => ({ type: d[0].value === "null" ? "null" : "boolean" })},
    {"name": "value", "symbols": ["array"], "postprocess": () => ({ type: "array" })},
    {"name": "value", "symbols": ["object"], "postprocess": () => ({ type: "object" })},
    {"name": "object", "symbols": [(lexer.has("lbrace") ? {type: "lbrace"} : lbrace), "_", (lexer.has("rbrace") ? {type: "rbrace"} : rbrace)], "postprocess": () => null},
    {"name": "object", "symbols": [(lexer.has("lbrace") ? {type: "lbrace"} : lbrace), "_", "members", "_", (lexer.has("rbrace") ? {type: "rbrace"} : rbrace)], "postprocess": () => null},
    {"name": "members", "symbols": ["member"], "postprocess": () => null},
    {"name": "members", "symbols": ["members", "_", (lexer.has("comma") ? {type: "comma"} : comma), "_", "member"], "postprocess": () => null},
    {"name": "member", "symbols": [(lexer.has("string") ? {type: "string"} : string), "_", (lexer.has("colon") ? {type: "colon"} : colon), "_", "value"], "postprocess": () => null},
    {"name": "_", "symbols": [], "postprocess": () => null},
    {"name": "_", "symbols": [(lexer.has("ws") ? {type: "ws"} : ws)], "postprocess": () => null}
  ],
  ParserStart: "main",
};

export default grammar;
