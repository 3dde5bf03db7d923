// Package vocab is the hotline's one vocabulary: the closed lists of words a
// ticket, the statistics, the work-order push and the console share — ticket
// status, outcome, abandon stage, priority, category, end reason, delivery
// state, seat state, not-ready reason, legal domain and disposition — each
// word once, with its console label.
//
// The call layer writes these words, the ticket store keeps them, stats
// counts them, the web API checks what a user may set against them and
// serves every list to the console (GET /api/console/options, "labels"), so
// the console has no list of its own. The IVR's key labels come from
// ivr.yaml (the menu), not from here.
//
// It imports nothing of this module, so every package may import it.
package vocab

// Word is one value of a closed list with its console label.
type Word struct {
	Value string `json:"value"`
	Label string `json:"label"`
}

// List is a closed list of words.
type List []Word

// Has reports whether v is one of the list's values.
func (l List) Has(v string) bool {
	for _, w := range l {
		if w.Value == v {
			return true
		}
	}
	return false
}

// Label returns v's label, or v itself when the list does not have it.
func (l List) Label(v string) string {
	for _, w := range l {
		if w.Value == v {
			return w.Label
		}
	}
	return v
}

// Values returns the list's values in order.
func (l List) Values() []string {
	out := make([]string, len(l))
	for i, w := range l {
		out[i] = w.Value
	}
	return out
}

// Ticket status (SPEC §7).
const (
	StatusOpen   = "open"
	StatusClosed = "closed"
)

// Statuses of a ticket.
var Statuses = List{{StatusOpen, "进行中"}, {StatusClosed, "已结束"}}

// Outcome of the call behind a ticket (SPEC §7).
const (
	OutcomeAnswered  = "answered"
	OutcomeAbandoned = "abandoned"
	OutcomeVoicemail = "voicemail"
	OutcomeRejected  = "rejected"
	// OutcomeInterrupted: the switch itself ended the call (shutdown deadline,
	// crash found at restart) before it could finish; never a guess at blame.
	OutcomeInterrupted = "interrupted"
)

// Outcomes of a call.
var Outcomes = List{
	{OutcomeAnswered, "已接通"},
	{OutcomeAbandoned, "放弃"},
	{OutcomeVoicemail, "留言"},
	{OutcomeRejected, "拒接"},
	{OutcomeInterrupted, "中断"},
}

// Abandon stages: where a caller who hung up was (SPEC §7 abandon_stage).
const (
	StageIVR     = "ivr"
	StageQueue   = "queue"
	StageRinging = "ringing"
)

// Stages where a caller gave up.
var Stages = List{{StageIVR, "语音导航中"}, {StageQueue, "排队中"}, {StageRinging, "振铃中"}}

// Priorities of a call (ivr.yaml routes' priority).
const (
	PriorityNormal = "normal"
	PriorityGreen  = "green"
)

// Priorities of a call.
var Priorities = List{{PriorityNormal, "普通"}, {PriorityGreen, "绿色通道"}}

// Categories: the kind of help a caller asked for; they name the ACD's
// queues (skills) and are the ticket's category (SPEC §5, §7).
const (
	CategoryConsult   = "consult"
	CategoryLegalAid  = "legal_aid"
	CategoryMediation = "mediation"
	CategoryNotary    = "notary"
	CategoryComplaint = "complaint"
)

// Categories of a ticket.
var Categories = List{
	{CategoryConsult, "法律咨询"},
	{CategoryLegalAid, "法律援助"},
	{CategoryMediation, "人民调解"},
	{CategoryNotary, "公证与司法鉴定"},
	{CategoryComplaint, "投诉与建议"},
}

// End reasons written to the ticket: why the call ended, for whoever reads
// the ticket later.
const (
	EndCallerHangup   = "caller_hangup"
	EndCallerCancel   = "caller_cancel"
	EndRTPTimeout     = "rtp_timeout"
	EndSessionExpired = "session_expired"
	EndNoAck          = "no_ack"
	EndCompleted      = "completed"
	EndSeatHangup     = "seat_hangup"
	EndShutdown       = "shutdown"
	EndUnknownNumber  = "unknown_number"
	EndNoCommonCodec  = "no_common_codec"
	EndMediaError     = "media_error"
)

// EndReasons of a call.
var EndReasons = List{
	{EndCallerHangup, "来电人挂断"},
	{EndCallerCancel, "来电人振铃中挂断"},
	{EndRTPTimeout, "媒体超时"},
	{EndSessionExpired, "会话超时"},
	{EndNoAck, "未收到确认"},
	{EndCompleted, "正常结束"},
	{EndSeatHangup, "坐席挂断"},
	{EndShutdown, "系统停机"},
	{EndUnknownNumber, "号码不存在"},
	{EndNoCommonCodec, "编码不兼容"},
	{EndMediaError, "媒体故障"},
}

// Delivery states of a ticket's push to the work-order system.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryDead      = "dead"
)

// Deliveries: states of a ticket's push.
var Deliveries = List{{DeliveryPending, "待推送"}, {DeliveryDelivered, "已推送"}, {DeliveryDead, "推送失败"}}

// Seat states (agent.State's values, SPEC §6).
const (
	SeatOffline  = "offline"
	SeatReady    = "ready"
	SeatNotReady = "not_ready"
	SeatRinging  = "ringing"
	SeatBusy     = "busy"
	SeatWrapUp   = "wrap_up"
)

// SeatStates with their labels.
var SeatStates = List{
	{SeatOffline, "离线"},
	{SeatReady, "就绪"},
	{SeatNotReady, "未就绪"},
	{SeatRinging, "振铃中"},
	{SeatBusy, "通话中"},
	{SeatWrapUp, "话后整理"},
}

// ReasonNoAnswer is the not-ready reason the ACD sets by itself when a seat
// let a call ring out (RONA).
const ReasonNoAnswer = "no_answer"

// NotReadyReasons: the reasons an operator picks on the desk.
var NotReadyReasons = List{
	{"break", "小休"},
	{"meeting", "会议"},
	{"training", "培训"},
	{"meal", "就餐"},
	{"callback", "回访外呼"},
	{"other", "其他"},
}

// ReasonLabels: every not-ready reason with its label, the ACD's own included.
func ReasonLabels() List {
	return append(List{{ReasonNoAnswer, "未接听（超时）"}}, NotReadyReasons...)
}

// LegalDomains: the field of law a question is about (ticket legal_domain).
var LegalDomains = List{
	{"marriage_family", "婚姻家庭"},
	{"inheritance", "继承"},
	{"labor", "劳动争议"},
	{"wage_arrears", "拖欠工资"},
	{"social_insurance", "社会保险"},
	{"contract", "合同纠纷"},
	{"debt", "借贷债务"},
	{"property", "房产物业"},
	{"land", "土地与征收"},
	{"traffic", "交通事故"},
	{"consumer", "消费者权益"},
	{"medical", "医疗纠纷"},
	{"neighbor", "邻里纠纷"},
	{"tort", "人身损害"},
	{"criminal", "刑事"},
	{"administrative", "行政"},
	{"other", "其他"},
}

// Dispositions: what the operator did about it (ticket disposition).
var Dispositions = List{
	{"answered", "已解答"},
	{"legal_aid_referral", "转法律援助"},
	{"mediation_referral", "转人民调解"},
	{"notary_referral", "转公证/鉴定机构"},
	{"lawyer_referral", "建议委托律师"},
	{"other_agency", "转其他部门"},
	{"complaint_forwarded", "投诉已转办"},
	{"callback", "需回访"},
	{"invalid", "无效来电"},
	{"other", "其他"},
}

// Satisfaction scores (survey) with their labels.
var Satisfaction = List{{"1", "满意"}, {"2", "基本满意"}, {"3", "不满意"}}

// Roles of a console user (internal/auth).
const (
	RoleOperator = "operator"
	RoleManager  = "manager"
	RoleAdmin    = "admin"
)

// Roles with their labels.
var Roles = List{{RoleOperator, "坐席员"}, {RoleManager, "值班长"}, {RoleAdmin, "管理员"}}

// Labels returns every list by the name the console knows it by.
func Labels() map[string]List {
	return map[string]List{
		"status":       Statuses,
		"outcome":      Outcomes,
		"stage":        Stages,
		"priority":     Priorities,
		"category":     Categories,
		"end_reason":   EndReasons,
		"wo":           Deliveries,
		"state":        SeatStates,
		"reason":       ReasonLabels(),
		"legal_domain": LegalDomains,
		"disposition":  Dispositions,
		"satisfaction": Satisfaction,
		"role":         Roles,
		"cb_reason":    CallbackReasons,
		"cb_state":     CallbackStates,
		"cb_result":    CallbackResults,
	}
}
