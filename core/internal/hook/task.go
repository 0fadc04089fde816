package hook

import "context"

type taskKey struct{}

// WithTask marks calls made with the returned context as the work of a
// queued task, so that the session records a fault the device returns to
// one of them with the task's ID, and fault observers can tell which task
// provoked it.
func WithTask(ctx context.Context, taskID int64) context.Context {
	return context.WithValue(ctx, taskKey{}, taskID)
}

// TaskOf returns the ID of the task a call's context was marked with by
// WithTask, or 0.
func TaskOf(ctx context.Context) int64 {
	id, _ := ctx.Value(taskKey{}).(int64)
	return id
}
