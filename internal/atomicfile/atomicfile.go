// Package atomicfile writes files so that a failed write never leaves a half-written output:
// data goes to a temp file in the destination directory, which is synced and renamed.
package atomicfile

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Write creates path by calling write on a buffered temp file, then renaming it into place.
// On any error nothing is left behind and the error names path.
func Write(path string, write func(w *bufio.Writer) error) error {
	return WriteAll([]File{{Path: path, Write: write}})
}

// File is one file of a set written together by WriteAll.
type File struct {
	Path  string
	Write func(w *bufio.Writer) error
}

// WriteAll writes every file to a synced temp file in its directory, and only when all have
// been written renames them into place: a failed write leaves no new file behind (the error
// names the file).
func WriteAll(files []File) error {
	temps := make([]string, len(files))
	defer func() {
		for _, t := range temps {
			if t != "" {
				os.Remove(t)
			}
		}
	}()
	for i, f := range files {
		t, err := writeTemp(f.Path, f.Write)
		if err != nil {
			return err
		}
		temps[i] = t
	}
	dirs := map[string]bool{}
	for i, f := range files {
		if err := os.Rename(temps[i], f.Path); err != nil {
			return fmt.Errorf("%s: %v", f.Path, unwrap(err))
		}
		temps[i] = ""
		dirs[filepath.Dir(f.Path)] = true
	}
	for dir := range dirs { // make the renames durable; best effort
		if d, err := os.Open(dir); err == nil {
			_ = d.Sync()
			d.Close()
		}
	}
	return nil
}

// writeTemp writes a synced temp file beside path and returns its name.
func writeTemp(path string, write func(w *bufio.Writer) error) (name string, err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("%s: %v", path, unwrap(err))
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
			err = fmt.Errorf("%s: %v", path, unwrap(err))
		}
	}()
	bw := bufio.NewWriterSize(tmp, 1<<20)
	if err = write(bw); err != nil {
		return "", err
	}
	if err = bw.Flush(); err != nil {
		return "", err
	}
	if err = tmp.Chmod(0o644); err != nil {
		return "", err
	}
	if err = tmp.Sync(); err != nil {
		return "", err
	}
	if err = tmp.Close(); err != nil {
		return "", err
	}
	return tmp.Name(), nil
}

// unwrap drops the *PathError wrapper (its path is a temp name) but keeps the cause.
func unwrap(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
