// Generated automatically by nearley, version 2.20.1
// http://github.com/Hardmath123/nearley
// Bypasses TS6133. Allow declared but unused functions.
// @ts-ignore
function id(d: any[]): any { return d[0]; }
declare var keyword: any;
declare var sep: any;
declare var ws: any;
declare var rest: any;
declare var flag: any;

import { instructionLineLexer as lexer } from "../lexers.ts";

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
    {"name": "line", "symbols": [(lexer.has("keyword") ? {type: "keyword"} : keyword)], "postprocess": (d) => ({ keyword: d[0], items: null })},
    {"name": "line", "symbols": [(lexer.has("keyword") ? {type: "keyword"} : keyword), (lexer.has("sep") ? {type: "sep"} : sep), "args"], "postprocess": (d) => ({ keyword: d[0], items: d[2] })},
    {"name": "args$ebnf$1", "symbols": [(lexer.has("ws") ? {type: "ws"} : ws)], "postprocess": id},
    {"name": "args$ebnf$1", "symbols": [], "postprocess": () => null},
    {"name": "args", "symbols": ["args$ebnf$1", "items"], "postprocess": (d) => d[1]},
    {"name": "items", "symbols": [(lexer.has("rest") ? {type: "rest"} : rest)], "postprocess": (d) => ({ head: d[0], tail: null })},
    {"name": "items", "symbols": ["flags"], "postprocess": (d) => d[0]},
    {"name": "items", "symbols": ["flags", (lexer.has("ws") ? {type: "ws"} : ws), (lexer.has("rest") ? {type: "rest"} : rest)], "postprocess": (d) => ({ head: d[2], tail: d[0] })},
    {"name": "flags", "symbols": [(lexer.has("flag") ? {type: "flag"} : flag)], "postprocess": (d) => ({ head: d[0], tail: null })},
    {"name": "flags", "symbols": ["flags", (lexer.has("ws") ? {type: "ws"} : ws), (lexer.has("flag") ? {type: "flag"} : flag)], "postprocess": (d) => ({ head: d[2], tail: d[0] })}
  ],
  ParserStart: "line",
};

export default grammar;
