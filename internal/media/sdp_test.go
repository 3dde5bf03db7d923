package media

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/pion/sdp/v3"
)

func sdpBody(lines ...string) []byte {
	return []byte(strings.Join(lines, "\r\n") + "\r\n")
}

var ours = []Codec{CodecPCMU, CodecPCMA}

func TestNegotiate(t *testing.T) {
	head := []string{"v=0", "o=- 1 1 IN IP4 10.0.0.1", "s=-", "c=IN IP4 10.0.0.1", "t=0 0"}
	offer := func(extra ...string) []byte { return sdpBody(append(append([]string{}, head...), extra...)...) }
	remote := netip.MustParseAddrPort("10.0.0.1:4000")

	tests := []struct {
		name    string
		offer   []byte
		want    SessionParams
		wantErr error
	}{
		{
			name:  "PCMA only",
			offer: offer("m=audio 4000 RTP/AVP 8", "a=rtpmap:8 PCMA/8000"),
			want:  SessionParams{Codec: CodecPCMA, Remote: remote, Direction: SendRecv},
		},
		{
			name:  "PCMU+PCMA with te 101, offer order wins",
			offer: offer("m=audio 4000 RTP/AVP 0 8 101", "a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000", "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16", "a=ptime:20", "a=sendrecv"),
			want:  SessionParams{Codec: CodecPCMU, DTMFType: 101, Remote: remote, Direction: SendRecv, Ptime: 20},
		},
		{
			name:  "PCMA first in offer beats our PCMU preference",
			offer: offer("m=audio 4000 RTP/AVP 8 0 101", "a=rtpmap:101 telephone-event/8000"),
			want:  SessionParams{Codec: CodecPCMA, DTMFType: 101, Remote: remote, Direction: SendRecv},
		},
		{
			name:  "te 96, static payload types without rtpmap",
			offer: offer("m=audio 4000 RTP/AVP 0 96", "a=rtpmap:96 telephone-event/8000", "a=ptime:30"),
			want:  SessionParams{Codec: CodecPCMU, DTMFType: 96, Remote: remote, Direction: SendRecv, Ptime: 30},
		},
		{
			name:  "opus and G729 first, PCMU later",
			offer: offer("m=audio 4000 RTP/AVP 111 18 0", "a=rtpmap:111 opus/48000/2", "a=rtpmap:18 G729/8000"),
			want:  SessionParams{Codec: CodecPCMU, Remote: remote, Direction: SendRecv},
		},
		{
			name:  "telephone-event at 48000 is not ours",
			offer: offer("m=audio 4000 RTP/AVP 0 100 101", "a=rtpmap:100 telephone-event/48000", "a=rtpmap:101 telephone-event/8000"),
			want:  SessionParams{Codec: CodecPCMU, DTMFType: 101, Remote: remote, Direction: SendRecv},
		},
		{
			name:  "dynamic PT for PCMU keeps the wire PT",
			offer: offer("m=audio 4000 RTP/AVP 97", "a=rtpmap:97 pcmu/8000"),
			want:  SessionParams{Codec: Codec{Name: "PCMU", PayloadType: 97, ClockRate: 8000}, Remote: remote, Direction: SendRecv},
		},
		{
			name:    "no common codec",
			offer:   offer("m=audio 4000 RTP/AVP 18 9", "a=rtpmap:18 G729/8000", "a=rtpmap:9 G722/8000"),
			wantErr: ErrNoCommonCodec,
		},
		{
			name:    "video only",
			offer:   offer("m=video 5000 RTP/AVP 96", "a=rtpmap:96 H264/90000"),
			wantErr: ErrNoCommonCodec,
		},
		{
			name:    "SRTP only",
			offer:   offer("m=audio 4000 RTP/SAVP 0"),
			wantErr: ErrNoCommonCodec,
		},
		{
			name:  "sendonly (peer holds with music) -> recvonly",
			offer: offer("m=audio 4000 RTP/AVP 0", "a=sendonly"),
			want:  SessionParams{Codec: CodecPCMU, Remote: remote, Direction: RecvOnly},
		},
		{
			name:  "recvonly -> sendonly",
			offer: offer("m=audio 4000 RTP/AVP 0", "a=recvonly"),
			want:  SessionParams{Codec: CodecPCMU, Remote: remote, Direction: SendOnly},
		},
		{
			name:  "inactive",
			offer: offer("m=audio 4000 RTP/AVP 0", "a=inactive"),
			want:  SessionParams{Codec: CodecPCMU, Remote: remote, Direction: Inactive},
		},
		{
			name:  "session-level direction, media level wins",
			offer: sdpBody("v=0", "o=- 1 1 IN IP4 10.0.0.1", "s=-", "c=IN IP4 10.0.0.1", "t=0 0", "a=sendonly", "m=audio 4000 RTP/AVP 0"),
			want:  SessionParams{Codec: CodecPCMU, Remote: remote, Direction: RecvOnly},
		},
		{
			name:  "c=0.0.0.0 old-style hold",
			offer: sdpBody("v=0", "o=- 1 2 IN IP4 10.0.0.1", "s=-", "c=IN IP4 0.0.0.0", "t=0 0", "m=audio 4000 RTP/AVP 0"),
			want:  SessionParams{Codec: CodecPCMU, Direction: Inactive},
		},
		{
			name:  "port 0 only: disabled stream",
			offer: offer("m=audio 0 RTP/AVP 0"),
			want:  SessionParams{Codec: CodecPCMU, Direction: Inactive},
		},
		{
			name:  "multiple m-lines: video ignored, disabled audio skipped, media-level c=",
			offer: offer("m=video 5000 RTP/AVP 96", "a=rtpmap:96 H264/90000", "m=audio 0 RTP/AVP 8", "m=audio 6000 RTP/AVP 0 101", "c=IN IP4 10.9.9.9", "a=rtpmap:101 telephone-event/8000"),
			want:  SessionParams{Codec: CodecPCMU, DTMFType: 101, Remote: netip.MustParseAddrPort("10.9.9.9:6000"), Direction: SendRecv},
		},
		{
			name:  "IPv6 c= line",
			offer: sdpBody("v=0", "o=- 1 1 IN IP6 2001:db8::1", "s=-", "c=IN IP6 2001:db8::1", "t=0 0", "m=audio 4000 RTP/AVP 8 0"),
			want:  SessionParams{Codec: CodecPCMA, Remote: netip.MustParseAddrPort("[2001:db8::1]:4000"), Direction: SendRecv},
		},
		{
			name:  "LF line endings",
			offer: []byte("v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nc=IN IP4 10.0.0.1\nt=0 0\nm=audio 4000 RTP/AVP 0\n"),
			want:  SessionParams{Codec: CodecPCMU, Remote: remote, Direction: SendRecv},
		},
		{name: "garbage", offer: []byte("hello world"), wantErr: ErrBadSDP},
		{name: "empty", offer: nil, wantErr: ErrBadSDP},
		{name: "no c= line", offer: sdpBody("v=0", "o=- 1 1 IN IP4 10.0.0.1", "s=-", "t=0 0", "m=audio 4000 RTP/AVP 0"), wantErr: ErrBadSDP},
		{name: "hostname in c=", offer: sdpBody("v=0", "o=- 1 1 IN IP4 a", "s=-", "c=IN IP4 example.com", "t=0 0", "m=audio 4000 RTP/AVP 0"), wantErr: ErrBadSDP},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Negotiate(tc.offer, ours)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestNegotiateSupportedSubset(t *testing.T) {
	offer := sdpBody("v=0", "o=- 1 1 IN IP4 10.0.0.1", "s=-", "c=IN IP4 10.0.0.1", "t=0 0", "m=audio 4000 RTP/AVP 0 8")
	got, err := Negotiate(offer, []Codec{CodecPCMA})
	if err != nil || got.Codec != CodecPCMA {
		t.Fatalf("got %+v, %v", got, err)
	}
	if _, err := Negotiate(offer, nil); !errors.Is(err, ErrNoCommonCodec) {
		t.Fatalf("no supported codecs: %v", err)
	}
}

func TestAnswerSDP(t *testing.T) {
	local := netip.MustParseAddrPort("192.0.2.10:20000")
	for _, p := range []SessionParams{
		{Codec: CodecPCMU, DTMFType: 101, Direction: SendRecv},
		{Codec: CodecPCMA, Direction: RecvOnly},
		{Codec: Codec{Name: "PCMU", PayloadType: 0, ClockRate: 8000}, DTMFType: 96, Direction: Inactive},
	} {
		body := AnswerSDP(local, p, 1234567890123, 2)
		if len(body) >= 400 {
			t.Errorf("answer is %d bytes", len(body))
		}
		var sd sdp.SessionDescription
		if err := sd.Unmarshal(body); err != nil {
			t.Fatalf("pion cannot parse our answer: %v\n%s", err, body)
		}
		if sd.Origin.SessionID != 1234567890123 || sd.Origin.SessionVersion != 2 {
			t.Errorf("origin %+v", sd.Origin)
		}
		// Reading our own answer as if it were an offer must give back the
		// same codec, DTMF PT, address and the mirrored direction.
		back, err := Negotiate(body, ours)
		if err != nil {
			t.Fatal(err)
		}
		want := SessionParams{Codec: p.Codec, DTMFType: p.DTMFType, Remote: local, Direction: p.Direction.mirror(), Ptime: 20}
		if p.Direction == Inactive {
			want.Direction = Inactive
		}
		if back != want {
			t.Errorf("round trip\n got %+v\nwant %+v\n%s", back, want, body)
		}
		if p.DTMFType != 0 && !strings.Contains(string(body), "a=fmtp:"+strconv.Itoa(int(p.DTMFType))+" 0-16\r\n") {
			t.Errorf("no fmtp 0-16:\n%s", body)
		}
	}
	v6 := AnswerSDP(netip.MustParseAddrPort("[2001:db8::5]:20002"), SessionParams{Codec: CodecPCMU}, 1, 1)
	if !strings.Contains(string(v6), "c=IN IP6 2001:db8::5\r\n") || !strings.Contains(string(v6), "a=sendrecv") {
		t.Errorf("ipv6 answer:\n%s", v6)
	}
}

func TestOfferAndParseAnswer(t *testing.T) {
	local := netip.MustParseAddrPort("192.0.2.10:20000")
	offer := OfferSDP(local, []Codec{CodecPCMA, CodecPCMU}, 101, 7, 1, SendRecv)
	if !strings.Contains(string(offer), "m=audio 20000 RTP/AVP 8 0 101\r\n") {
		t.Fatalf("offer:\n%s", offer)
	}
	// The seat's side: negotiate our offer, answer it, and we parse the answer.
	seat := netip.MustParseAddrPort("192.0.2.20:30000")
	p, err := Negotiate(offer, []Codec{CodecPCMU, CodecPCMA})
	if err != nil {
		t.Fatal(err)
	}
	answer := AnswerSDP(seat, p, 9, 1)
	got, err := ParseAnswer(answer, []Codec{CodecPCMA, CodecPCMU}, 101)
	if err != nil {
		t.Fatal(err)
	}
	want := SessionParams{Codec: CodecPCMA, DTMFType: 101, Remote: seat, Direction: SendRecv, Ptime: 20}
	if got != want {
		t.Fatalf("got %+v want %+v", got, want)
	}

	for _, tc := range []struct {
		name    string
		answer  []byte
		dtmf    uint8
		want    SessionParams
		wantErr error
	}{
		{"seat answers PCMU without te", sdpBody("v=0", "o=- 1 1 IN IP4 192.0.2.20", "s=-", "c=IN IP4 192.0.2.20", "t=0 0", "m=audio 30000 RTP/AVP 0"), 101,
			SessionParams{Codec: CodecPCMU, Remote: seat, Direction: SendRecv}, nil},
		{"te ignored when we did not offer it", sdpBody("v=0", "o=- 1 1 IN IP4 192.0.2.20", "s=-", "c=IN IP4 192.0.2.20", "t=0 0", "m=audio 30000 RTP/AVP 8 101", "a=rtpmap:101 telephone-event/8000"), 0,
			SessionParams{Codec: CodecPCMA, Remote: seat, Direction: SendRecv}, nil},
		{"answer recvonly -> we sendonly", sdpBody("v=0", "o=- 1 1 IN IP4 192.0.2.20", "s=-", "c=IN IP4 192.0.2.20", "t=0 0", "m=audio 30000 RTP/AVP 8", "a=recvonly"), 0,
			SessionParams{Codec: CodecPCMA, Remote: seat, Direction: SendOnly}, nil},
		{"rejected with port 0", sdpBody("v=0", "o=- 1 1 IN IP4 192.0.2.20", "s=-", "c=IN IP4 192.0.2.20", "t=0 0", "m=audio 0 RTP/AVP 0"), 0, SessionParams{}, ErrNoCommonCodec},
		{"codec we did not offer", sdpBody("v=0", "o=- 1 1 IN IP4 192.0.2.20", "s=-", "c=IN IP4 192.0.2.20", "t=0 0", "m=audio 30000 RTP/AVP 18"), 0, SessionParams{}, ErrNoCommonCodec},
		{"garbage", []byte("v=0\r\nnonsense"), 0, SessionParams{}, ErrBadSDP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseAnswer(tc.answer, []Codec{CodecPCMA, CodecPCMU}, tc.dtmf)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err %v want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func FuzzNegotiate(f *testing.F) {
	f.Add([]byte("v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendonly\r\n"))
	f.Add([]byte("v=0\r\no=- 1 1 IN IP6 ::1\r\ns=-\r\nc=IN IP6 ::1\r\nt=0 0\r\nm=video 1 RTP/AVP 96\r\nm=audio 0 RTP/AVP 8\r\nm=audio 2 RTP/AVPF 0\r\nc=IN IP4 224.2.1.1/127\r\na=ptime:20x\r\n"))
	f.Add([]byte("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 65535/2 RTP/AVP 300 -1 abc\r\na=rtpmap:abc x\r\na=rtpmap:97 PCMU/x\r\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Negotiate(data, ours)
		if err != nil {
			if !errors.Is(err, ErrBadSDP) && !errors.Is(err, ErrNoCommonCodec) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if _, ok := CodecByName(p.Codec.Name); !ok {
			t.Fatalf("negotiated unsupported codec %+v", p.Codec)
		}
		if p.Remote.IsValid() && p.Remote.Addr().IsUnspecified() {
			t.Fatalf("unspecified remote %v", p.Remote)
		}
		ans := AnswerSDP(netip.MustParseAddrPort("127.0.0.1:20000"), p, 1, 1)
		if _, err := Negotiate(ans, ours); err != nil {
			t.Fatalf("our answer does not parse: %v\n%s", err, ans)
		}
		full := AnswerSDPFor(data, netip.MustParseAddrPort("127.0.0.1:20000"), p, 1, 1)
		if _, err := Negotiate(full, ours); err != nil {
			t.Fatalf("our multi-stream answer does not parse: %v\n%s", err, full)
		}
		_, _ = ParseAnswer(data, ours, 101)
	})
}

func TestAnswerSDPForMultipleStreams(t *testing.T) {
	offer := sdpBody("v=0", "o=- 1 1 IN IP4 10.0.0.1", "s=-", "c=IN IP4 10.0.0.1", "t=0 0",
		"m=video 5000 RTP/AVP 96", "a=rtpmap:96 H264/90000",
		"m=audio 4000 RTP/AVP 8 101", "a=rtpmap:101 telephone-event/8000",
		"m=text 6000 RTP/AVP 98")
	p, err := Negotiate(offer, ours)
	if err != nil {
		t.Fatal(err)
	}
	local := netip.MustParseAddrPort("192.0.2.10:20000")
	ans := AnswerSDPFor(offer, local, p, 5, 1)
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(ans); err != nil {
		t.Fatalf("%v\n%s", err, ans)
	}
	if len(sd.MediaDescriptions) != 3 {
		t.Fatalf("%d m-lines, want 3 (RFC 3264 §6)\n%s", len(sd.MediaDescriptions), ans)
	}
	for i, want := range []int{0, 20000, 0} {
		if got := sd.MediaDescriptions[i].MediaName.Port.Value; got != want {
			t.Errorf("m-line %d port %d want %d", i, got, want)
		}
	}
	if back, err := Negotiate(ans, ours); err != nil || back.Codec != CodecPCMA || back.DTMFType != 101 || back.Remote != local {
		t.Fatalf("answer reads back as %+v, %v", back, err)
	}
	single := sdpBody("v=0", "o=- 1 1 IN IP4 10.0.0.1", "s=-", "c=IN IP4 10.0.0.1", "t=0 0", "m=audio 4000 RTP/AVP 0")
	p, _ = Negotiate(single, ours)
	if string(AnswerSDPFor(single, local, p, 5, 1)) != string(AnswerSDP(local, p, 5, 1)) {
		t.Fatal("single-stream AnswerSDPFor differs from AnswerSDP")
	}
}

// Offers as real peers write them (SIPp's uac, baresip 1.0, Linphone with
// video and several telephone-event rates).
func TestNegotiateRealWorldOffers(t *testing.T) {
	for _, tc := range []struct {
		name  string
		offer []byte
		want  SessionParams
	}{
		{"sipp uac", sdpBody("v=0", "o=user1 53655765 2353687637 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0", "m=audio 6000 RTP/AVP 0", "a=rtpmap:0 PCMU/8000"),
			SessionParams{Codec: CodecPCMU, Remote: netip.MustParseAddrPort("127.0.0.1:6000"), Direction: SendRecv}},
		{"baresip", sdpBody("v=0", "o=- 1953410137 1553836486 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0", "m=audio 13950 RTP/AVP 0 101", "b=AS:77",
			"a=rtpmap:0 PCMU/8000", "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-15", "a=ptime:20", "a=sendrecv", "a=rtcp-rsize"),
			SessionParams{Codec: CodecPCMU, DTMFType: 101, Remote: netip.MustParseAddrPort("127.0.0.1:13950"), Direction: SendRecv, Ptime: 20}},
		{"linphone", sdpBody("v=0", "o=8002 3102 2512 IN IP4 192.168.1.5", "s=Talk", "c=IN IP4 192.168.1.5", "t=0 0",
			"a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics", "a=record:off",
			"m=audio 7078 RTP/AVP 96 97 98 0 8 18 101 99 100", "a=rtpmap:96 opus/48000/2", "a=fmtp:96 useinbandfec=1", "a=rtpmap:97 speex/16000", "a=fmtp:97 vbr=on",
			"a=rtpmap:98 speex/8000", "a=fmtp:98 vbr=on", "a=fmtp:18 annexb=yes", "a=rtpmap:101 telephone-event/48000", "a=rtpmap:99 telephone-event/16000",
			"a=rtpmap:100 telephone-event/8000", "a=rtcp-fb:* trr-int 1000", "a=rtcp-fb:* ccm tmmbr",
			"m=video 9078 RTP/AVP 96 97", "a=rtpmap:96 VP8/90000", "a=rtpmap:97 H264/90000", "a=fmtp:97 profile-level-id=42801F", "a=rtcp-fb:96 nack pli"),
			SessionParams{Codec: CodecPCMU, DTMFType: 100, Remote: netip.MustParseAddrPort("192.168.1.5:7078"), Direction: SendRecv}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Negotiate(tc.offer, ours)
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v\nwant %+v", got, err, tc.want)
			}
		})
	}
}
