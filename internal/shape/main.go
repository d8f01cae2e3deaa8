// Command shape measures the Go packages in the directories it is given:
// non-test lines per package, the largest functions with their cyclomatic
// complexity, and the exported identifiers per package. scripts/shape.sh
// runs it; the numbers are cited in design notes, so they must be
// reproducible without tools that are not installed (gocyclo).
package main

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// function is one function or method declaration.
type function struct {
	name       string // pkg.Func or pkg.(*T).Method
	pos        string // file:line
	lines      int
	complexity int
}

// pkgShape is what is counted of one package.
type pkgShape struct {
	name     string
	lines    int
	exported int // top-level exported names
	methods  int // exported methods
}

func main() {
	top := flag.Int("top", 10, "how many of the largest functions to list")
	flag.Parse()
	root, _ := os.Getwd()
	var pkgs []pkgShape
	var funcs []function
	for _, dir := range flag.Args() {
		p, fs, err := measure(dir, root)
		if err != nil {
			fmt.Fprintln(os.Stderr, "shape:", err)
			os.Exit(1)
		}
		if p.lines > 0 {
			pkgs = append(pkgs, p)
			funcs = append(funcs, fs...)
		}
	}
	fmt.Println("## lines per package (non-test .go)")
	for _, p := range pkgs {
		fmt.Printf("%6d  %s\n", p.lines, p.name)
	}
	fmt.Printf("\n## %d largest functions (lines, cyclomatic complexity)\n", *top)
	sort.SliceStable(funcs, func(i, j int) bool { return funcs[i].lines > funcs[j].lines })
	for _, f := range funcs[:min(*top, len(funcs))] {
		fmt.Printf("%5d %4d  %s  %s\n", f.lines, f.complexity, f.name, f.pos)
	}
	fmt.Println("\n## exported identifiers per package (top-level names + methods)")
	for _, p := range pkgs {
		fmt.Printf("%4d + %3d  %s\n", p.exported, p.methods, p.name)
	}
}

// measure parses the non-test Go files of dir, whatever their build tags.
func measure(dir, root string) (pkgShape, []function, error) {
	rel, err := filepath.Rel(root, dir)
	if err != nil {
		rel = dir
	}
	p := pkgShape{name: "./" + filepath.ToSlash(rel)}
	fset := token.NewFileSet()
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return p, nil, err
	}
	var funcs []function
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			return p, nil, fmt.Errorf("parse %s: %w", name, err)
		}
		p.lines += fset.File(f.Pos()).LineCount()
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil && d.Name.IsExported() {
					p.exported++
				} else if d.Recv != nil && d.Name.IsExported() && ast.IsExported(receiverType(d)) {
					p.methods++
				}
				if d.Body == nil {
					continue
				}
				start, end := fset.Position(d.Pos()), fset.Position(d.End())
				funcs = append(funcs, function{
					name:       f.Name.Name + "." + funcName(d),
					pos:        fmt.Sprintf("%s:%d", filepath.ToSlash(mustRel(root, start.Filename)), start.Line),
					lines:      end.Line - start.Line + 1,
					complexity: complexity(d.Body),
				})
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						if s.Name.IsExported() {
							p.exported++
						}
					case *ast.ValueSpec:
						for _, n := range s.Names {
							if n.IsExported() {
								p.exported++
							}
						}
					}
				}
			}
		}
	}
	return p, funcs, nil
}

// complexity is 1 + the branch points of body, function literals
// included: if, for, range, each case and select clause but default, &&
// and ||.
func complexity(body *ast.BlockStmt) int {
	n := 1
	ast.Inspect(body, func(node ast.Node) bool {
		switch node := node.(type) {
		case *ast.IfStmt, *ast.ForStmt, *ast.RangeStmt:
			n++
		case *ast.CaseClause:
			if node.List != nil {
				n++
			}
		case *ast.CommClause:
			if node.Comm != nil {
				n++
			}
		case *ast.BinaryExpr:
			if node.Op == token.LAND || node.Op == token.LOR {
				n++
			}
		}
		return true
	})
	return n
}

func receiverType(d *ast.FuncDecl) string {
	t := d.Recv.List[0].Type
	for {
		switch u := t.(type) {
		case *ast.StarExpr:
			t = u.X
		case *ast.IndexExpr:
			t = u.X
		case *ast.IndexListExpr:
			t = u.X
		case *ast.Ident:
			return u.Name
		default:
			return "?"
		}
	}
}

func funcName(d *ast.FuncDecl) string {
	if d.Recv == nil {
		return d.Name.Name
	}
	recv := receiverType(d)
	if _, ok := d.Recv.List[0].Type.(*ast.StarExpr); ok {
		recv = "*" + recv
	}
	return "(" + recv + ")." + d.Name.Name
}

func mustRel(root, path string) string {
	if r, err := filepath.Rel(root, path); err == nil {
		return r
	}
	return path
}
