package adapt

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/hotline12348/hotline/internal/call"
	"github.com/hotline12348/hotline/internal/web"
)

// WebTransfers implements web.Transfers on the call layer's transfers.
type WebTransfers struct{ X *call.Transfers }

func (w WebTransfers) Operator(id string) (string, bool) { return w.X.Operator(id) }

func (w WebTransfers) Targets() []web.TransferTargetView {
	out := make([]web.TransferTargetView, 0, len(w.X.Targets))
	for _, t := range w.X.Targets {
		out = append(out, web.TransferTargetView{Name: t.Name, Kind: t.Kind()})
	}
	return out
}

func (w WebTransfers) Request(ctx context.Context, id, op, target, mode, by string) error {
	err := w.X.Request(ctx, id, op, target, mode, by, "console")
	if err == nil {
		return nil
	}
	code, msg := http.StatusInternalServerError, "转接失败"
	switch {
	case errors.Is(err, call.ErrNotLive):
		code, msg = http.StatusNotFound, "此工单没有正在进行的通话"
	case errors.Is(err, call.ErrUnknownTarget):
		code, msg = http.StatusForbidden, "转接目标不在配置的转接目标（transfer.targets）中"
	case errors.Is(err, call.ErrModeUnsupported):
		code, msg = http.StatusNotImplemented, "本节点的媒体不支持三方通话"
	case errors.Is(err, call.ErrBadMode):
		code, msg = http.StatusBadRequest, `转接方式无效：mode 应为 "blind"、"consult" 或 "conference"（转到队列只能 blind）`
	case errors.Is(err, call.ErrTransferBusy):
		code, msg = http.StatusConflict, "此通话正在转接中"
	case errors.Is(err, call.ErrNoConsult):
		code, msg = http.StatusConflict, "没有正在进行的咨询转接或三方通话"
	case errors.Is(err, call.ErrNotAnsweredYet):
		code, msg = http.StatusConflict, "转接目标尚未接听"
	case errors.Is(err, call.ErrTargetBusy):
		code, msg = http.StatusConflict, "转接目标坐席正在通话或振铃，请稍后再转"
	case errors.Is(err, call.ErrTargetOffline):
		code, msg = http.StatusConflict, "转接目标坐席的话机未注册"
	case errors.Is(err, call.ErrTargetFailed):
		code, msg = http.StatusBadGateway, "无法呼叫转接目标"
	case errors.Is(err, call.ErrTransferDisabled):
		code, msg = http.StatusServiceUnavailable, "本节点未启用转接"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		code, msg = http.StatusGatewayTimeout, "通话未及时响应转接请求"
	}
	return &web.TransferError{Code: code, Msg: msg, Err: err}
}

// ReferTransfers implements sip.ReferHandler: a seat's REFER transfers the
// call it is talking on, blind, to a configured target only; with
// Replaces (an attended transfer) it completes the consultation the
// operator is in, if any.
type ReferTransfers struct{ X *call.Transfers }

func (r ReferTransfers) Allowed(seat, user string) bool {
	if _, ok := r.X.Match(user); !ok {
		r.X.Refused(call.ModeBlind)
		return false
	}
	_, ok := r.X.OperatorCall(seat)
	return ok
}

func (r ReferTransfers) Transfer(ctx context.Context, seat, user string, replaces bool, accepted func()) error {
	id, ok := r.X.OperatorCall(seat)
	t, ok2 := r.X.Match(user)
	if !ok || !ok2 {
		return call.ErrNotLive
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if replaces && r.X.Consulting(id) {
		return r.X.RequestNotify(ctx, id, "complete", "", "", seat, "refer", accepted)
	}
	return r.X.RequestNotify(ctx, id, "transfer", t.Name, call.ModeBlind, seat, "refer", accepted)
}
