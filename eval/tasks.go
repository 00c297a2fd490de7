package eval

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// HellaSwagTask is one HellaSwag task: a context, four endings and the
// index of the gold one.
type HellaSwagTask struct {
	Context string
	Gold    int
	Endings [4]string
}

// fileText is the text llama-perplexity's -f option reads: the file with
// one trailing newline removed.
func fileText(data []byte) string {
	s := string(data)
	return strings.TrimSuffix(s, "\n")
}

// getlines splits s as repeated std::getline(stream, line, '\n') does:
// a final newline does not start another (empty) line.
func getlines(s string) []string {
	if s == "" {
		return nil
	}
	lines := strings.Split(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// stoi parses like std::stoi (base 10): leading white space, an optional
// sign, at least one digit; what follows the digits is ignored.
func stoi(s string) (int, error) {
	i := 0
	for i < len(s) && isCSpace(s[i]) {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	start := i
	v := int64(0)
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		v = v*10 + int64(s[i]-'0')
		if v > 1<<31 {
			return 0, fmt.Errorf("%q: number out of range", s)
		}
		i++
	}
	if i == start {
		return 0, fmt.Errorf("%q: not a number", s)
	}
	if neg {
		v = -v
	}
	if v > 1<<31-1 {
		return 0, fmt.Errorf("%q: number out of range", s)
	}
	return int(v), nil
}

func isCSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// ParseHellaSwag reads llama.cpp's HellaSwag text format: six lines per
// task (activity label + ": " + context; gold ending index 0-3; the four
// endings), as llama-perplexity reads it with -f.
func ParseHellaSwag(data []byte) ([]HellaSwagTask, error) {
	lines := getlines(fileText(data))
	if len(lines) == 0 {
		return nil, errors.New("hellaswag: no tasks in the file")
	}
	if len(lines)%6 != 0 {
		return nil, fmt.Errorf("hellaswag: %d lines is not a multiple of 6 (context, label, 4 endings per task)", len(lines))
	}
	tasks := make([]HellaSwagTask, len(lines)/6)
	for i := range tasks {
		l := lines[6*i : 6*i+6]
		g, err := stoi(l[1])
		if err != nil || g < 0 || g > 3 {
			return nil, fmt.Errorf("hellaswag: task %d (line %d): gold ending %q is not 0, 1, 2 or 3", i+1, 6*i+2, l[1])
		}
		tasks[i] = HellaSwagTask{Context: l[0], Gold: g, Endings: [4]string{l[2], l[3], l[4], l[5]}}
	}
	return tasks, nil
}

// WinograndeTask is one WinoGrande task: the sentence around the blank,
// the two choices and the correct one (1 or 2).
type WinograndeTask struct {
	First, Second string
	Choices       [2]string
	Answer        int
}

// ParseWinogrande reads llama.cpp's WinoGrande CSV as llama-perplexity
// does: each row "index,sentence,choice1,choice2,answer" (the sentence may
// be quoted and must hold "_"). Rows llama-perplexity skips (a header, rows
// without four separators, a blank or an answer outside 1-2) are returned
// as warnings; like llama-perplexity, only lines ended by a newline count,
// after one trailing newline of the file is removed (so the last row of a
// file ending in a single newline is not read).
func ParseWinogrande(data []byte) (tasks []WinograndeTask, warnings []string, err error) {
	s := fileText(data)
	for len(s) > 0 {
		nl := strings.IndexByte(s, '\n')
		if nl < 0 {
			break // std::getline hit end of file: llama-perplexity stops
		}
		line := s[:nl]
		s = s[nl+1:]
		var comma [4]int
		n := 0
		quote := false
		for i := 0; i < len(line) && n < 4; i++ {
			switch {
			case !quote && line[i] == ',':
				comma[n] = i
				n++
			case line[i] == '"':
				quote = !quote
			}
		}
		if n != 4 {
			warnings = append(warnings, fmt.Sprintf("failed to find comma separators in <%s>", line))
			continue
		}
		var sentence string
		if comma[0]+1 < len(line) && line[comma[0]+1] == '"' {
			if comma[1]-comma[0]-3 < 0 {
				warnings = append(warnings, fmt.Sprintf("bad quoted sentence in <%s>", line))
				continue
			}
			sentence = line[comma[0]+2 : comma[1]-1]
		} else {
			sentence = line[comma[0]+1 : comma[1]]
		}
		choice1 := line[comma[1]+1 : comma[2]]
		choice2 := line[comma[2]+1 : comma[3]]
		answer := line[comma[3]+1:]
		where := strings.IndexByte(sentence, '_')
		if where < 0 {
			warnings = append(warnings, fmt.Sprintf("no _ in <%s>", sentence))
			continue
		}
		a, err := stoi(answer)
		if err != nil || a < 1 || a > 2 {
			warnings = append(warnings, fmt.Sprintf("failed to parse answer <%s>", answer))
			continue
		}
		tasks = append(tasks, WinograndeTask{
			First: sentence[:where], Second: sentence[where+1:],
			Choices: [2]string{choice1, choice2}, Answer: a,
		})
	}
	if len(tasks) == 0 {
		return nil, warnings, errors.New("winogrande: no tasks in the file")
	}
	return tasks, warnings, nil
}

// MultipleChoiceTask is one task of llama.cpp's binary multiple-choice
// format: a question (or context to continue) and its answers, with labels
// 1 for correct answers. MC2 (several correct answers) is read but not
// scored, as in llama-perplexity.
type MultipleChoiceTask struct {
	Question string
	Answers  []string
	Labels   []int32
	MC2      []string
	MC2Label []int32
}

// maxAnswers is llama-perplexity's bound on answers per task.
const maxAnswers = 100

type mcReader struct {
	b   []byte
	off int
}

func (r *mcReader) u32(what string) (uint32, error) {
	if len(r.b)-r.off < 4 {
		return 0, fmt.Errorf("truncated at byte %d reading %s", r.off, what)
	}
	v := binary.LittleEndian.Uint32(r.b[r.off:])
	r.off += 4
	return v, nil
}

func (r *mcReader) str(what string) (string, error) {
	n, err := r.u32(what + " length")
	if err != nil {
		return "", err
	}
	if uint64(n) > uint64(len(r.b)-r.off) {
		return "", fmt.Errorf("%s of %d bytes at byte %d runs past the end of the file (%d bytes)", what, n, r.off-4, len(r.b))
	}
	s := string(r.b[r.off : r.off+int(n)])
	r.off += int(n)
	return s, nil
}

func (r *mcReader) answers(what string) ([]string, []int32, error) {
	n, err := r.u32(what + " answer count")
	if err != nil {
		return nil, nil, err
	}
	if n > maxAnswers {
		return nil, nil, fmt.Errorf("%s: %d answers (at most %d)", what, n, maxAnswers)
	}
	ans := make([]string, n)
	for i := range ans {
		if ans[i], err = r.str(fmt.Sprintf("%s answer %d", what, i+1)); err != nil {
			return nil, nil, err
		}
	}
	if uint64(n)*4 > uint64(len(r.b)-r.off) {
		return nil, nil, fmt.Errorf("%s labels at byte %d run past the end of the file", what, r.off)
	}
	labels := make([]int32, n)
	for i := range labels {
		labels[i] = int32(binary.LittleEndian.Uint32(r.b[r.off:]))
		r.off += 4
	}
	return ans, labels, nil
}

func (r *mcReader) task() (MultipleChoiceTask, error) {
	var t MultipleChoiceTask
	var err error
	if t.Question, err = r.str("question"); err != nil {
		return t, err
	}
	if t.Answers, t.Labels, err = r.answers("mc1"); err != nil {
		return t, err
	}
	t.MC2, t.MC2Label, err = r.answers("mc2")
	return t, err
}

// ReadMultipleChoice reads llama.cpp's binary multiple-choice format (all
// integers little-endian):
//
//	u32 n_task; u32 offset[n_task] (byte offset of each task from the start)
//	then per task: string question; answers mc1; answers mc2
//	string:  u32 length, bytes
//	answers: u32 n (≤ 100), n strings, n × i32 labels (1 = correct)
//
// With n == 0 or n ≥ n_task every task is read in order after the offset
// table; otherwise n tasks are drawn as llama-perplexity draws them
// (std::mt19937 seeded with 1) and read at their offsets.
func ReadMultipleChoice(data []byte, n int) ([]MultipleChoiceTask, error) {
	r := &mcReader{b: data}
	nTask, err := r.u32("the task count")
	if err != nil || nTask == 0 {
		return nil, errors.New("multiple-choice: no tasks in the file")
	}
	if uint64(nTask)*4 > uint64(len(data)-4) {
		return nil, fmt.Errorf("multiple-choice: the table of %d task offsets runs past the end of the file (%d bytes)", nTask, len(data))
	}
	pos := make([]uint32, nTask)
	for i := range pos {
		pos[i], _ = r.u32("")
	}
	if n <= 0 || n >= int(nTask) {
		tasks := make([]MultipleChoiceTask, 0, min(int(nTask), len(data)/16))
		for i := 0; i < int(nTask); i++ {
			t, err := r.task()
			if err != nil {
				return nil, fmt.Errorf("multiple-choice: task %d of %d: %w", i+1, nTask, err)
			}
			tasks = append(tasks, t)
		}
		return tasks, nil
	}
	rng := newMT19937(1)
	aux := make([]int, nTask)
	for i := range aux {
		aux[i] = i
	}
	tasks := make([]MultipleChoiceTask, n)
	for i := range tasks {
		j := rng.pickFloat(len(aux))
		idx := aux[j]
		aux[j] = aux[len(aux)-1]
		aux = aux[:len(aux)-1]
		if int64(pos[idx]) >= int64(len(data)) {
			return nil, fmt.Errorf("multiple-choice: task %d: offset %d is past the end of the file (%d bytes)", idx, pos[idx], len(data))
		}
		r.off = int(pos[idx])
		if tasks[i], err = r.task(); err != nil {
			return nil, fmt.Errorf("multiple-choice: task %d at offset %d: %w", idx, pos[idx], err)
		}
	}
	return tasks, nil
}

// WriteMultipleChoice encodes tasks in llama.cpp's binary format (see
// ReadMultipleChoice).
func WriteMultipleChoice(tasks []MultipleChoiceTask) ([]byte, error) {
	le := binary.LittleEndian
	out := le.AppendUint32(nil, uint32(len(tasks)))
	table := len(out)
	out = append(out, make([]byte, 4*len(tasks))...)
	putStr := func(s string) { out = le.AppendUint32(out, uint32(len(s))); out = append(out, s...) }
	putAnswers := func(a []string, l []int32) error {
		if len(a) != len(l) || len(a) > maxAnswers {
			return fmt.Errorf("multiple-choice: %d answers with %d labels (at most %d)", len(a), len(l), maxAnswers)
		}
		out = le.AppendUint32(out, uint32(len(a)))
		for _, s := range a {
			putStr(s)
		}
		for _, v := range l {
			out = le.AppendUint32(out, uint32(v))
		}
		return nil
	}
	for i, t := range tasks {
		if len(out) > 1<<32-1 {
			return nil, errors.New("multiple-choice: offsets past 4 GiB")
		}
		le.PutUint32(out[table+4*i:], uint32(len(out)))
		putStr(t.Question)
		if err := putAnswers(t.Answers, t.Labels); err != nil {
			return nil, err
		}
		if err := putAnswers(t.MC2, t.MC2Label); err != nil {
			return nil, err
		}
	}
	return out, nil
}
