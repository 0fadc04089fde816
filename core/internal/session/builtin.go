package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/provisor/provisor/core/cwmp"
	"github.com/provisor/provisor/core/internal/hook"
	"github.com/provisor/provisor/core/internal/store"
)

// BatchSize is the GetParameterValues batch size configured for the
// session's device.
func (s *Session) BatchSize() int { return s.batch }

func batchSize(s hook.Session) int {
	if b, ok := s.(interface{ BatchSize() int }); ok && b.BatchSize() > 0 {
		return b.BatchSize()
	}
	return DefaultConfig.GPVBatchSize
}

// Discovery learns a device's whole tree on first contact and after
// 0 BOOTSTRAP, when the device may have lost everything the ACS set.
type Discovery struct{}

// Name implements hook.Handler.
func (Discovery) Name() string { return "discovery" }

// Run implements hook.Handler.
func (Discovery) Run(ctx context.Context, s hook.Session) error {
	if !s.Device().New && !s.HasEvent(cwmp.EventBootstrap) {
		return nil
	}
	// Discovery starts at the model root, never at "": some devices do not
	// answer GetParameterNames for the empty path.
	_, err := Refresh(ctx, s, s.Device().Root)
	return err
}

// Refresh reads the names under path and then their values, in batches;
// the session stores everything it learns. It returns the number of values
// read.
func Refresh(ctx context.Context, s hook.Session, path string) (int, error) {
	names, err := hook.Do[*cwmp.GetParameterNamesResponse](ctx, s, &cwmp.GetParameterNames{ParameterPath: path, NextLevel: false})
	if err != nil {
		return 0, err
	}
	leaves := make([]string, 0, len(names.ParameterList))
	for _, p := range names.ParameterList {
		if p.Name != "" && !strings.HasSuffix(p.Name, ".") {
			leaves = append(leaves, p.Name)
		}
	}
	n := 0
	b := batchSize(s)
	for i := 0; i < len(leaves); i += b {
		got, err := getValues(ctx, s, leaves[i:min(i+b, len(leaves))])
		n += got
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// getValues reads one batch. A device that faults a batch with 9005 does
// not say which name it disliked, so the batch is halved until the bad
// names are found and left out.
func getValues(ctx context.Context, s hook.Session, names []string) (int, error) {
	resp, err := hook.Do[*cwmp.GetParameterValuesResponse](ctx, s, &cwmp.GetParameterValues{ParameterNames: names})
	if err == nil {
		return len(resp.ParameterList), nil
	}
	var f *cwmp.Fault
	if !errors.As(err, &f) || f.Code != cwmp.FaultInvalidParameterName {
		return 0, err
	}
	if len(names) == 1 {
		s.Logger().Info("device refuses a name it listed", "name", names[0])
		return 0, nil
	}
	half := len(names) / 2
	a, err := getValues(ctx, s, names[:half])
	if err != nil {
		return a, err
	}
	b, err := getValues(ctx, s, names[half:])
	return a + b, err
}

// NewTask makes a durable task that runs one RPC on a device at its next
// session. Transfers and other methods with a CommandKey get one when the
// caller gave none, so that the TransferComplete that ends them can be
// matched.
func NewTask(deviceID string, req cwmp.Body) (store.Task, error) {
	t := store.Task{DeviceID: deviceID, Kind: req.Method()}
	key := commandKey(req)
	if key != nil && *key == "" {
		*key = "provisor-" + newID()[:12]
	}
	if key != nil {
		t.CommandKey = *key
	}
	args, err := json.Marshal(req)
	if err != nil {
		return t, err
	}
	t.Args = args
	return t, nil
}

// RefreshTask makes a task that re-reads a subtree of the device.
func RefreshTask(deviceID, path string) store.Task {
	args, _ := json.Marshal(refreshArgs{Path: path})
	return store.Task{DeviceID: deviceID, Kind: store.KindRefresh, Args: args}
}

type refreshArgs struct {
	Path string `json:"path"`
}

func commandKey(b cwmp.Body) *string {
	switch r := b.(type) {
	case *cwmp.Download:
		return &r.CommandKey
	case *cwmp.Upload:
		return &r.CommandKey
	case *cwmp.ScheduleDownload:
		return &r.CommandKey
	case *cwmp.Reboot:
		return &r.CommandKey
	case *cwmp.ScheduleInform:
		return &r.CommandKey
	case *cwmp.ChangeDUState:
		return &r.CommandKey
	case *cwmp.CancelTransfer:
		return &r.CommandKey
	}
	return nil
}

// Tasks runs the device's queued tasks and completes transfer tasks when
// their TransferComplete arrives.
type Tasks struct {
	Store store.Store
	// Plugins runs KindPlugin tasks; nil faults them.
	Plugins hook.PluginRunner
}

// Name implements hook.Handler.
func (*Tasks) Name() string { return "tasks" }

// Run implements hook.Handler.
func (t *Tasks) Run(ctx context.Context, s hook.Session) error {
	log := s.Logger()
	if h, ok := t.Store.(store.TaskHints); ok && !h.MayHavePendingTasks(s.Device().ID) {
		return nil // the common session: nothing queued, no query
	}
	pending, err := t.Store.PendingTasks(ctx, s.Device().ID, s.Start())
	if errors.Is(err, store.ErrNotFound) {
		return nil // a device seen for the first time has no tasks yet
	}
	if err != nil {
		return err
	}
	for _, task := range pending {
		if hook.Closing(s) {
			return nil // the device applies a transfer; the rest waits, no attempt spent
		}
		if _, err := t.Store.UpdateTask(ctx, store.TaskUpdate{ID: task.ID, State: store.StateRunning, From: store.StateQueued}); err != nil {
			log.Warn("task could not start", "task", task.ID, "err", err)
			continue
		}
		task.Attempts++
		// Faults the device returns to the task's calls name the task.
		result, state, err := t.execute(hook.WithTask(ctx, task.ID), s, task)
		u := store.TaskUpdate{ID: task.ID, From: store.StateRunning, State: state, Result: result}
		var f *cwmp.Fault
		switch {
		case err == nil:
		case errors.As(err, &f):
			u.State = store.StateFault
			u.Fault = &store.TaskFault{Code: int(f.Code), Message: f.Error()}
			if len(f.SetParameterValuesFaults) > 0 {
				u.Fault.Detail, _ = json.Marshal(f.SetParameterValuesFaults)
			}
		case errors.Is(err, hook.ErrSessionEnded):
			u.State = store.StateQueued
			if task.MaxAttempts > 0 && task.Attempts >= task.MaxAttempts {
				u.State = store.StateFault
				u.Fault = &store.TaskFault{Code: 0, Message: fmt.Sprintf("gave up after %d attempts: %v", task.Attempts, err)}
			}
		default:
			u.State = store.StateFault
			u.Fault = &store.TaskFault{Message: err.Error()}
		}
		// The update must land even when the session's context is gone.
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeWriteTimeout)
		_, uerr := t.Store.UpdateTask(wctx, u)
		cancel()
		if uerr != nil {
			log.Error("task state not saved", "task", task.ID, "state", u.State, "err", uerr)
		} else {
			log.Info("task", "task", task.ID, "kind", task.Kind, "state", u.State)
		}
		if errors.Is(err, hook.ErrSessionEnded) {
			return err
		}
	}
	return nil
}

func (t *Tasks) execute(ctx context.Context, s hook.Session, task store.Task) (json.RawMessage, store.TaskState, error) {
	switch task.Kind {
	case store.KindConnectionRequest:
		// The session exists: the request has done its work.
		return nil, store.StateDone, nil
	case store.KindRefresh:
		var a refreshArgs
		if err := json.Unmarshal(task.Args, &a); err != nil {
			return nil, store.StateFault, fmt.Errorf("bad refresh arguments: %w", err)
		}
		if a.Path == "" {
			a.Path = s.Device().Root
		}
		n, err := Refresh(ctx, s, a.Path)
		res, _ := json.Marshal(map[string]int{"values": n})
		return res, store.StateDone, err
	case store.KindPlugin:
		return t.runPlugin(ctx, s, task)
	}
	req := cwmp.New(task.Kind)
	if req == nil || strings.HasSuffix(task.Kind, "Response") || task.Kind == "Inform" {
		return nil, store.StateFault, fmt.Errorf("task kind %q is not an RPC the ACS can send", task.Kind)
	}
	if len(task.Args) > 0 {
		if err := json.Unmarshal(task.Args, req); err != nil {
			return nil, store.StateFault, fmt.Errorf("bad %s arguments: %w", task.Kind, err)
		}
	}
	if key := commandKey(req); key != nil && task.CommandKey != "" {
		*key = task.CommandKey
	}
	resp, err := s.Call(ctx, req)
	if err != nil {
		return nil, store.StateFault, err
	}
	result, _ := json.Marshal(resp)
	switch r := resp.(type) {
	case *cwmp.DownloadResponse:
		if r.Status == 1 {
			return result, store.StateWaitingTransfer, nil
		}
	case *cwmp.UploadResponse:
		if r.Status == 1 {
			return result, store.StateWaitingTransfer, nil
		}
	case *cwmp.ScheduleDownloadResponse:
		return result, store.StateWaitingTransfer, nil
	}
	return result, store.StateDone, nil
}

// OnRequest implements hook.RequestHandler: a TransferComplete ends the
// task that started the transfer, exactly once, whichever session it comes
// in.
func (t *Tasks) OnRequest(ctx context.Context, s hook.Session, req cwmp.Body) error {
	tc, ok := req.(*cwmp.TransferComplete)
	if !ok {
		return nil
	}
	result, _ := json.Marshal(tc)
	var fault *store.TaskFault
	if !tc.FaultStruct.OK() {
		fault = &store.TaskFault{Code: int(tc.FaultStruct.FaultCode), Message: tc.FaultStruct.FaultCode.String() + " " + tc.FaultStruct.FaultString}
	}
	task, applied, err := t.Store.CompleteTransfer(ctx, s.Device().ID, tc.CommandKey, result, fault)
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.Logger().Info("TransferComplete for no task", "command_key", tc.CommandKey)
		return nil
	case err != nil:
		return fmt.Errorf("%w: %v", ErrRetryRequest, err)
	case !applied:
		s.Logger().Info("TransferComplete repeated; task already ended", "task", task.ID, "state", task.State)
	default:
		s.Logger().Info("transfer task completed", "task", task.ID, "state", task.State, "fault_code", strconv.Itoa(int(tc.FaultStruct.FaultCode)))
	}
	return nil
}

var _ hook.RequestHandler = (*Tasks)(nil)
