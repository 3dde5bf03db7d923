#!/usr/bin/env bash
# Generates the Mandarin voice prompts under configs/prompts/zh with espeak-ng
# (voice cmn) and sox: 8 kHz, mono, 16-bit PCM WAV, silence trimmed at both
# ends. The output is committed; run this only to regenerate, e.g. after
# editing a text. Recorded prompts of the same names may replace any file.
#
#   apt-get install -y espeak-ng sox && scripts/gen-prompts.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=configs/prompts/zh
mkdir -p "$out"
command -v espeak-ng >/dev/null || { echo "gen-prompts: espeak-ng missing (apt-get install -y espeak-ng)" >&2; exit 1; }
command -v sox >/dev/null || { echo "gen-prompts: sox missing (apt-get install -y sox)" >&2; exit 1; }

declare -A text=(
  [welcome]="您好，欢迎致电一二三四八公共法律服务热线。本热线七乘二十四小时为您服务，通话将被录音。"
  [menu]="法律咨询请按一，法律援助请按二，人民调解请按三，公证与司法鉴定请按四，投诉与建议请按五，农民工欠薪求助请按九，人工服务请按零，重听请按星号键。"
  [invalid]="您的输入有误。"
  [voicemail]="对不起，目前暂时无法为您接通人工服务。请在提示音后留言，说明您的姓名和需要咨询的问题，留言完毕请按井号键，我们会尽快给您回电。"
  [voicemail_saved]="您的留言已收到，我们会尽快与您联系。"
  [voicemail_failed]="对不起，留言暂时无法保存。我们会尽快给您回电。"
  [goodbye]="感谢您的来电，再见。"
  [survey]="请对本次服务进行评价，满意请按一，基本满意请按二，不满意请按三。"
  [survey_invalid]="输入有误，请重新评价。"
  [survey_thanks]="感谢您的评价，再见。"
  [queue_wait]="话务员正忙，请您稍候，我们将尽快为您接通。"
  [queue_position_before]="您前面还有"
  [queue_position_after]="位，请耐心等待。"
  [legal_info_1]="温馨提示：农民工朋友遇到欠薪问题，可以拨打一二三四八热线按九号键，进入欠薪求助绿色通道。"
  [legal_info_2]="温馨提示：经济困难的公民，遇到追索赡养费、工伤赔偿、劳动报酬等法律问题，可以依法申请法律援助。"
  [legal_info_3]="温馨提示：邻里纠纷、婚姻家庭纠纷，可以向当地人民调解委员会申请免费调解。"
  [legal_info_4]="温馨提示：签订劳动合同和借款合同时，请保留好书面凭证，依法维护自身权益。"
  [all_busy]="所有话务员正忙，请稍候。"
  [seat_connecting]="正在为您转接话务员，请稍候。"
  [call_held]="您的通话已保持，请稍候。"
  [num_0]="零" [num_1]="一" [num_2]="二" [num_3]="三" [num_4]="四" [num_5]="五"
  [num_6]="六" [num_7]="七" [num_8]="八" [num_9]="九" [num_10]="十"
  [num_100]="百" [num_1000]="千" [num_10000]="万"
)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for name in "${!text[@]}"; do
  espeak-ng -v cmn -s 230 -w "$tmp/$name.wav" "${text[$name]}"
  # 8 kHz mono 16-bit; -3 dB headroom (G.711 clips); trim leading/trailing silence.
  sox -q "$tmp/$name.wav" -r 8000 -c 1 -b 16 -e signed-integer "$out/$name.wav" \
    gain -n -3 silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse
done
ls "$out" | wc -l | xargs echo "gen-prompts: wrote prompts:"
