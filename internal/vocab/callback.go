package vocab

// Callback task reasons (SPEC §9a).
const (
	CallbackVoicemail    = "voicemail"
	CallbackAbandoned    = "abandoned"
	CallbackDissatisfied = "dissatisfied"
)

// CallbackReasons with their labels.
var CallbackReasons = List{{CallbackVoicemail, "留言"}, {CallbackAbandoned, "放弃来电"}, {CallbackDissatisfied, "不满意"}}

// Callback task states.
const (
	CallbackOpen        = "open"
	CallbackAssigned    = "assigned"
	CallbackDone        = "done"
	CallbackUnreachable = "unreachable"
)

// CallbackStates with their labels.
var CallbackStates = List{{CallbackOpen, "待回访"}, {CallbackAssigned, "已分配"}, {CallbackDone, "已回访"}, {CallbackUnreachable, "无法联系"}}

// Callback results an operator records.
const (
	ResultReached     = "reached"
	ResultNoAnswer    = "no_answer"
	ResultWrongNumber = "wrong_number"
	ResultRetry       = "retry"
)

// CallbackResults with their labels.
var CallbackResults = List{{ResultReached, "已联系"}, {ResultNoAnswer, "无人接听"}, {ResultWrongNumber, "号码错误"}, {ResultRetry, "约定再拨"}}
