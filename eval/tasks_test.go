package eval

import (
	"encoding/binary"
	"reflect"
	"strings"
	"testing"
)

func TestParseHellaSwag(t *testing.T) {
	task := "ctx a\n2\ne0\ne1\ne2\ne3\n"
	for _, ok := range []string{task, task + task, strings.TrimSuffix(task, "\n"), task + "\n", strings.ReplaceAll(task, "2\n", " +2 junk\n")} {
		tasks, err := ParseHellaSwag([]byte(ok))
		if err != nil || tasks[0].Gold != 2 || tasks[0].Endings[3] != "e3" || tasks[0].Context != "ctx a" {
			t.Errorf("%q: %+v, %v", ok, tasks, err)
		}
	}
	for _, bad := range []string{"", "\n", task + "x\n", strings.Replace(task, "2\n", "x\n", 1), strings.Replace(task, "2\n", "4\n", 1),
		strings.Replace(task, "2\n", "-1\n", 1), strings.Replace(task, "2\n", "99999999999\n", 1), task + "\n\n"} {
		if _, err := ParseHellaSwag([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestParseWinogrande(t *testing.T) {
	in := "index,sentence,option1,option2,answer\n" +
		"0,Sarah was better than Maria so _ got the easy cases.,Sarah,Maria,2\n" +
		`1,"He said, ""_ is here"", then left.",Tom,Ann,1` + "\n" +
		"2,no blank here,a,b,1\n" +
		"3,a _ b,x,y,3\n" +
		"4,a _ b,x,y,1\n" // the last line: its newline is stripped, so it is not read
	tasks, warn, err := ParseWinogrande([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []WinograndeTask{
		{First: "Sarah was better than Maria so ", Second: " got the easy cases.", Choices: [2]string{"Sarah", "Maria"}, Answer: 2},
		{First: `He said, ""`, Second: ` is here"", then left.`, Choices: [2]string{"Tom", "Ann"}, Answer: 1},
	}
	if !reflect.DeepEqual(tasks, want) {
		t.Errorf("tasks %+v", tasks)
	}
	if len(warn) != 3 || !strings.Contains(warn[0], "no _ in <sentence>") || !strings.Contains(warn[1], "no _") || !strings.Contains(warn[2], "answer") {
		t.Errorf("warnings %q", warn)
	}
	// With two trailing newlines the last row is read.
	if tasks, _, _ := ParseWinogrande([]byte(in + "\n")); len(tasks) != 3 {
		t.Errorf("%d tasks with a blank last line", len(tasks))
	}
	for _, bad := range []string{"", "a,b\n", "0,a _ b,x,y,1"} {
		if _, _, err := ParseWinogrande([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func sampleMC() []MultipleChoiceTask {
	return []MultipleChoiceTask{
		{Question: "q1", Answers: []string{"a", "bb"}, Labels: []int32{0, 1}, MC2: []string{}, MC2Label: []int32{}},
		{Question: "question two", Answers: []string{"x", "y", "z"}, Labels: []int32{1, 0, 0}, MC2: []string{"m"}, MC2Label: []int32{1}},
		{Question: "3", Answers: []string{"p"}, Labels: []int32{1}, MC2: []string{}, MC2Label: []int32{}},
	}
}

func TestMultipleChoiceFormat(t *testing.T) {
	want := sampleMC()
	data, err := WriteMultipleChoice(want)
	if err != nil {
		t.Fatal(err)
	}
	// The layout, spelled out: count, offsets, then the first task.
	le := binary.LittleEndian
	if le.Uint32(data) != 3 || le.Uint32(data[4:]) != 16 || le.Uint32(data[16:]) != 2 || string(data[20:22]) != "q1" || le.Uint32(data[22:]) != 2 {
		t.Fatalf("layout % x", data[:26])
	}
	got, err := ReadMultipleChoice(data, 0)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("read back %+v, %v", got, err)
	}
	// Every truncation is an error, never a panic.
	for n := 0; n < len(data); n++ {
		if _, err := ReadMultipleChoice(data[:n], 0); err == nil {
			t.Errorf("truncated to %d bytes: no error", n)
		}
	}
	// Hostile sizes are refused before allocating.
	bad := append([]byte(nil), data...)
	le.PutUint32(bad, 1<<30)
	if _, err := ReadMultipleChoice(bad, 0); err == nil || !strings.Contains(err.Error(), "offsets") {
		t.Errorf("huge task count: %v", err)
	}
	bad = append([]byte(nil), data...)
	le.PutUint32(bad[16:], 0xfffffff0)
	if _, err := ReadMultipleChoice(bad, 0); err == nil || !strings.Contains(err.Error(), "past the end") {
		t.Errorf("huge string: %v", err)
	}
	bad = append([]byte(nil), data...)
	le.PutUint32(bad[22:], 101)
	if _, err := ReadMultipleChoice(bad, 0); err == nil || !strings.Contains(err.Error(), "at most 100") {
		t.Errorf("101 answers: %v", err)
	}
	bad = append([]byte(nil), data...)
	le.PutUint32(bad[8:], uint32(len(data)))
	if _, err := ReadMultipleChoice(bad, 2); err == nil || !strings.Contains(err.Error(), "offset") {
		t.Errorf("offset past the end: %v", err)
	}
}

func FuzzReadMultipleChoice(f *testing.F) {
	data, _ := WriteMultipleChoice(sampleMC())
	f.Add(data, 0)
	f.Add(data, 2)
	f.Add([]byte{1, 0, 0, 0, 8, 0, 0, 0}, 0)
	f.Fuzz(func(t *testing.T, b []byte, n int) {
		tasks, err := ReadMultipleChoice(b, n%8)
		if err != nil {
			return
		}
		again, err := WriteMultipleChoice(tasks)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ReadMultipleChoice(again, 0)
		if err != nil || !reflect.DeepEqual(back, tasks) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
