package dataset

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/parquet-go/parquet-go"
)

// parquetShard is one parquet file of a dataset.
type parquetShard struct {
	path string
	rows int64
	base int // row index of the shard's first row in the dataset
}

// openParquetFile opens path and locates its flat "text" column.
func openParquetFile(path string) (*os.File, *parquet.File, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("dataset: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, 0, fmt.Errorf("dataset: %w", err)
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		f.Close()
		return nil, nil, 0, fmt.Errorf("dataset %s: parquet: %w", path, err)
	}
	col, ok := pf.Schema().Lookup("text")
	if !ok {
		f.Close()
		return nil, nil, 0, fmt.Errorf("dataset %s: parquet schema has no \"text\" column", path)
	}
	if col.MaxRepetitionLevel > 0 || col.Node.Type().Kind() != parquet.ByteArray {
		f.Close()
		return nil, nil, 0, fmt.Errorf("dataset %s: parquet column \"text\" is not a flat string column", path)
	}
	return f, pf, col.ColumnIndex, nil
}

func (d *Dataset) openParquet(paths []string) error {
	d.kind = fmtParquet
	d.path = paths[0]
	base := 0
	for _, p := range paths {
		f, pf, _, err := openParquetFile(p)
		if err != nil {
			return err
		}
		n := pf.NumRows()
		f.Close()
		d.shard = append(d.shard, parquetShard{path: p, rows: n, base: base})
		base += int(n)
	}
	return nil
}

// collectParquet reads the wanted rows' texts, shard by shard, seeking to
// the first wanted row of each row group and reading pages forward.
func (d *Dataset) collectParquet(want map[int]string) error {
	for _, sh := range d.shard {
		lo, hi := sh.base, sh.base+int(sh.rows)
		has := false
		for r := range want {
			if r >= lo && r < hi {
				has = true
				break
			}
		}
		if !has {
			continue
		}
		if err := collectShard(sh, want); err != nil {
			return err
		}
	}
	return nil
}

func collectShard(sh parquetShard, want map[int]string) error {
	f, pf, colIdx, err := openParquetFile(sh.path)
	if err != nil {
		return err
	}
	defer f.Close()
	rgBase := sh.base
	vals := make([]parquet.Value, 256)
	for gi, rg := range pf.RowGroups() {
		n := int(rg.NumRows())
		first, last := -1, -1
		for r := range want {
			if r >= rgBase && r < rgBase+n {
				if first < 0 || r < first {
					first = r
				}
				last = max(last, r)
			}
		}
		if first < 0 {
			rgBase += n
			continue
		}
		pages := rg.ColumnChunks()[colIdx].Pages()
		if err := pages.SeekToRow(int64(first - rgBase)); err != nil {
			pages.Close()
			return fmt.Errorf("dataset %s: row group %d: seek to row %d: %w", sh.path, gi, first-sh.base, err)
		}
		row := first
		for row <= last {
			page, err := pages.ReadPage()
			if err != nil {
				pages.Close()
				if errors.Is(err, io.EOF) {
					return fmt.Errorf("dataset %s: row group %d ended before row %d", sh.path, gi, row-sh.base)
				}
				return fmt.Errorf("dataset %s: row group %d: %w", sh.path, gi, err)
			}
			vr := page.Values()
			for row <= last {
				k, err := vr.ReadValues(vals)
				for _, v := range vals[:k] {
					if _, ok := want[row]; ok {
						if v.IsNull() {
							parquet.Release(page)
							pages.Close()
							return fmt.Errorf("dataset %s: row %d: \"text\" is null", sh.path, row-sh.base)
						}
						want[row] = string(v.ByteArray())
					}
					row++
				}
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					parquet.Release(page)
					pages.Close()
					return fmt.Errorf("dataset %s: row group %d: %w", sh.path, gi, err)
				}
			}
			parquet.Release(page)
		}
		pages.Close()
		rgBase += n
	}
	return nil
}
