package session

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/provisor/provisor/core/internal/store"
)

// stored loads the device's stored tree once per session.
func (s *Session) stored(ctx context.Context) (store.ParamTree, error) {
	if s.treeLoaded {
		return s.tree, nil
	}
	tree, err := s.m.store.Params(ctx, s.deviceID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	s.tree, s.treeLoaded = tree, true
	return tree, nil
}

func (s *Session) deleted(name string) bool {
	for _, p := range s.deletes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// view combines what the session learned of a name with what is stored,
// by the store's own merge rules: a name seen only in GetParameterNames
// keeps the stored value.
func view(learned store.Param, stored store.Param, haveStored bool) store.Param {
	if !haveStored {
		return learned
	}
	merged, _, err := store.MergeParams(store.ParamTree{stored}, []store.Param{learned}, nil, store.MergeOptions{})
	if err != nil || len(merged) != 1 {
		return learned
	}
	return merged[0]
}

// Value implements hook.Session.
func (s *Session) Value(ctx context.Context, name string) (store.Param, bool, error) {
	lp, learned := s.learned[name]
	if !learned && s.deleted(name) {
		return store.Param{}, false, nil
	}
	tree, err := s.stored(ctx)
	if err != nil {
		return store.Param{}, false, err
	}
	sp, stored := tree.Get(name)
	if learned {
		return view(lp, sp, stored && !s.deleted(name)), true, nil
	}
	return sp, stored, nil
}

// Values implements hook.Session.
func (s *Session) Values(ctx context.Context, prefix string) ([]store.Param, error) {
	tree, err := s.stored(ctx)
	if err != nil {
		return nil, err
	}
	var out []store.Param
	for _, p := range tree.Subtree(prefix) {
		if _, ok := s.learned[p.Name]; !ok && !s.deleted(p.Name) {
			out = append(out, p)
		}
	}
	for name, p := range s.learned {
		if strings.HasPrefix(name, prefix) {
			sp, ok := tree.Get(name)
			out = append(out, view(p, sp, ok && !s.deleted(name)))
		}
	}
	slices.SortFunc(out, func(a, b store.Param) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}
