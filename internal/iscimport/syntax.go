package iscimport

import (
	"fmt"
	"strconv"
	"strings"
)

// token is one lexical item of an ISC dhcpd file.
type token struct {
	text   string
	quoted bool // came from a "quoted string", so it is never a keyword
	line   int
}

// stmt is one statement: its tokens up to ';' or '{', and the block if any.
type stmt struct {
	toks  []token
	block []stmt
	line  int
	isBlk bool
}

// word returns token i's text, or "" when the statement is shorter; quoted
// tokens are returned as they are, so keywords compare safely.
func (s stmt) word(i int) string {
	if i < len(s.toks) {
		return s.toks[i].text
	}
	return ""
}

// keyword reports whether token i is the unquoted keyword kw.
func (s stmt) keyword(i int, kw string) bool {
	return i < len(s.toks) && !s.toks[i].quoted && strings.EqualFold(s.toks[i].text, kw)
}

// text renders the statement's tokens for warnings.
func (s stmt) text() string {
	var b strings.Builder
	for i, t := range s.toks {
		if i > 0 {
			b.WriteByte(' ')
		}
		if t.quoted {
			b.WriteString(strconv.Quote(t.text))
		} else {
			b.WriteString(t.text)
		}
		if b.Len() > 80 {
			return b.String()[:80] + "…"
		}
	}
	return b.String()
}

// punct are the characters that end a word and stand as tokens of their own.
const punct = "{};,()=!"

// lex splits an ISC dhcpd.conf or dhcpd.leases file into tokens. Comments
// run from '#' to the end of the line outside quotes.
func lex(src []byte) ([]token, error) {
	var toks []token
	line := 1
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '\n':
			line++
			i++
		case c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v':
			i++
		case c == '#':
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case c == '"':
			s, n, nl, err := lexString(src[i:])
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", line, err)
			}
			toks = append(toks, token{text: s, quoted: true, line: line})
			line += nl
			i += n
		case strings.IndexByte(punct, c) >= 0:
			toks = append(toks, token{text: string(c), line: line})
			i++
		default:
			j := i
			for j < len(src) && !isSpace(src[j]) && src[j] != '"' && src[j] != '#' && strings.IndexByte(punct, src[j]) < 0 {
				j++
			}
			toks = append(toks, token{text: string(src[i:j]), line: line})
			i = j
		}
	}
	return toks, nil
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// lexString reads a quoted string at the start of b with ISC's escapes
// (\n \t \r \b, \" \\, octal \NNN, hex \xHH). It returns the value, the bytes
// consumed and the newlines crossed.
func lexString(b []byte) (string, int, int, error) {
	var out []byte
	nl := 0
	for i := 1; i < len(b); i++ {
		c := b[i]
		switch c {
		case '"':
			return string(out), i + 1, nl, nil
		case '\n':
			nl++
			out = append(out, c)
		case '\\':
			i++
			if i >= len(b) {
				return "", 0, 0, fmt.Errorf("unterminated string")
			}
			switch e := b[i]; {
			case e == 'n':
				out = append(out, '\n')
			case e == 't':
				out = append(out, '\t')
			case e == 'r':
				out = append(out, '\r')
			case e == 'b':
				out = append(out, '\b')
			case e >= '0' && e <= '7':
				v, n := 0, 0
				for n < 3 && i+n < len(b) && b[i+n] >= '0' && b[i+n] <= '7' {
					v = v*8 + int(b[i+n]-'0')
					n++
				}
				out = append(out, byte(v))
				i += n - 1
			case e == 'x':
				v, n := 0, 0
				for n < 2 && i+1+n < len(b) && isHex(b[i+1+n]) {
					v = v*16 + hexVal(b[i+1+n])
					n++
				}
				if n == 0 {
					out = append(out, 'x')
				} else {
					out = append(out, byte(v))
					i += n
				}
			default:
				if e == '\n' {
					nl++
				}
				out = append(out, e)
			}
		default:
			out = append(out, c)
		}
	}
	return "", 0, 0, fmt.Errorf("unterminated string")
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	default:
		return int(c-'A') + 10
	}
}

// maxDepth bounds block nesting so hostile input cannot exhaust the stack.
const maxDepth = 64

// parseTree groups tokens into statements and blocks.
func parseTree(src []byte) ([]stmt, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &treeParser{toks: toks}
	stmts, err := p.block(0)
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.toks) {
		return nil, fmt.Errorf("line %d: unexpected '}'", p.toks[p.pos].line)
	}
	return stmts, nil
}

// treeParser walks the token list once, building nested statements.
type treeParser struct {
	toks []token
	pos  int
}

// block reads statements until a closing '}' (left for the caller) or the end.
func (p *treeParser) block(depth int) ([]stmt, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("line %d: blocks nested deeper than %d", p.toks[p.pos-1].line, maxDepth)
	}
	var out []stmt
	var cur stmt
	parens := 0
	for p.pos < len(p.toks) {
		t := p.toks[p.pos]
		if t.quoted {
			cur.add(t)
			p.pos++
			continue
		}
		switch t.text {
		case "(":
			parens++
			cur.add(t)
			p.pos++
		case ")":
			parens--
			cur.add(t)
			p.pos++
		case ";":
			p.pos++
			if parens > 0 {
				return nil, fmt.Errorf("line %d: ';' inside parentheses", t.line)
			}
			if len(cur.toks) > 0 {
				out = append(out, cur)
			}
			cur, parens = stmt{}, 0
		case "{":
			p.pos++
			if parens > 0 {
				return nil, fmt.Errorf("line %d: '{' inside parentheses", t.line)
			}
			if cur.line == 0 {
				cur.line = t.line
			}
			body, err := p.block(depth + 1)
			if err != nil {
				return nil, err
			}
			if p.pos >= len(p.toks) {
				return nil, fmt.Errorf("line %d: block opened here is never closed", cur.line)
			}
			p.pos++ // the closing '}'
			cur.block, cur.isBlk = body, true
			out = append(out, cur)
			cur, parens = stmt{}, 0
		case "}":
			if len(cur.toks) > 0 {
				return nil, fmt.Errorf("line %d: missing ';' after %q", cur.line, cur.text())
			}
			if depth == 0 {
				return nil, fmt.Errorf("line %d: unexpected '}'", t.line)
			}
			return out, nil
		default:
			cur.add(t)
			p.pos++
		}
	}
	if len(cur.toks) > 0 {
		return nil, fmt.Errorf("line %d: missing ';' after %q", cur.line, cur.text())
	}
	return out, nil
}

func (s *stmt) add(t token) {
	if len(s.toks) == 0 {
		s.line = t.line
	}
	s.toks = append(s.toks, t)
}
