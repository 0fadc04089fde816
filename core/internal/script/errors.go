package script

import (
	"errors"
	"strconv"
	"strings"

	"github.com/dop251/goja"
	"github.com/dop251/goja/parser"
)

// FileError is a problem in one script file, located as precisely as the
// engine can: a syntax error, an exception while the file loads, a bad
// registration, or an exception in a handler.
type FileError struct {
	File         string // relative to the scripts directory, slash-separated
	Line, Column int    // 0 when unknown
	Message      string
	// Stack is the JavaScript stack, one frame per line, when there was
	// one.
	Stack string
	// Cause is the error behind Message when it came from Go, such as a
	// *TimeoutError.
	Cause error
}

// Unwrap returns the cause.
func (e *FileError) Unwrap() error { return e.Cause }

func (e *FileError) Error() string {
	return e.Where() + ": " + e.Message
}

// Where is "file:line:column", or less when the position is unknown.
func (e *FileError) Where() string {
	s := e.File
	if s == "" {
		s = "<script>"
	}
	if e.Line > 0 {
		s += ":" + strconv.Itoa(e.Line)
		if e.Column > 0 {
			s += ":" + strconv.Itoa(e.Column)
		}
	}
	return s
}

// TimeoutError is the interrupt value of a handler that ran out of its
// JavaScript time budget.
type TimeoutError struct {
	// Budget names the budget: "handler", "session" or "load".
	Budget string
	Limit  string
}

func (e *TimeoutError) Error() string {
	return "script ran out of its " + e.Budget + " time budget (" + e.Limit + ")"
}

// ErrTimeout matches every *TimeoutError with errors.Is.
var ErrTimeout = errors.New("script time budget exceeded")

// Is makes errors.Is(err, ErrTimeout) true.
func (e *TimeoutError) Is(target error) bool { return target == ErrTimeout }

// wrapperPrefix turns a CommonJS file into a function expression. It stays
// on the file's first line so that line numbers are the file's own; only
// columns on line 1 shift, and positions are corrected for that.
const wrapperPrefix = "(function (exports, require, module, __filename, __dirname) {"

func fixColumn(line, col int) int {
	if line == 1 && col > len(wrapperPrefix) {
		return col - len(wrapperPrefix)
	}
	return col
}

// compileError turns goja's compile errors into a FileError. An error the
// parser finds only in the wrapper's closing line (an unclosed or extra
// brace) is reported at the end of the file as "Unexpected end of input".
func compileError(file, text string, err error) *FileError {
	fe := compileErrorAt(file, err)
	lines := strings.Count(text, "\n") + 1
	if fe.Line > lines {
		last := text[strings.LastIndexByte(text, '\n')+1:]
		fe.Line, fe.Column = lines, len(last)+1
		fe.Message = "SyntaxError: Unexpected end of input"
	}
	return fe
}

func compileErrorAt(file string, err error) *FileError {
	fe := &FileError{File: file, Message: err.Error()}
	var list parser.ErrorList
	var pe *parser.Error
	var ce *goja.CompilerSyntaxError
	switch {
	case errors.As(err, &list) && len(list) > 0:
		pe = list[0]
	case errors.As(err, &pe):
	case errors.As(err, &ce):
		fe.Message = "SyntaxError: " + ce.Message
		if ce.File != nil {
			p := ce.File.Position(ce.Offset)
			fe.Line, fe.Column = p.Line, fixColumn(p.Line, p.Column)
		}
		return fe
	}
	if pe != nil {
		fe.Message = "SyntaxError: " + pe.Message
		fe.Line, fe.Column = pe.Position.Line, fixColumn(pe.Position.Line, pe.Position.Column)
	}
	return fe
}

// formatStack writes the frames that belong to scripts, with corrected
// columns; native frames are left out.
func formatStack(frames []goja.StackFrame) string {
	var b strings.Builder
	for i := range frames {
		f := &frames[i]
		p := f.Position()
		if p.Filename == "" || p.Filename == preludeName {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString("at ")
		if name := f.FuncName(); name != "" && name != "<anonymous>" {
			b.WriteString(name)
			b.WriteString(" (")
		}
		b.WriteString(p.Filename)
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(p.Line))
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(fixColumn(p.Line, p.Column)))
		if name := f.FuncName(); name != "" && name != "<anonymous>" {
			b.WriteByte(')')
		}
	}
	return b.String()
}

// firstScriptFrame finds the innermost frame in a script file.
func firstScriptFrame(frames []goja.StackFrame) (file string, line, col int, ok bool) {
	for i := range frames {
		p := frames[i].Position()
		if p.Filename != "" && p.Filename != preludeName {
			return p.Filename, p.Line, fixColumn(p.Line, p.Column), true
		}
	}
	return "", 0, 0, false
}

// exceptionMessage renders a thrown value the way a script author expects
// to read it: "TypeError: x is not a function", or the CwmpFault's text.
func exceptionMessage(v goja.Value) string {
	if v == nil || goja.IsUndefined(v) {
		return "undefined thrown"
	}
	if o, ok := v.(*goja.Object); ok {
		name := o.Get("name")
		msg := o.Get("message")
		if msg != nil && !goja.IsUndefined(msg) {
			n := "Error"
			if name != nil && !goja.IsUndefined(name) {
				n = name.String()
			}
			return n + ": " + msg.String()
		}
	}
	return v.String()
}
