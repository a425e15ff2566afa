#!/usr/bin/env python3
"""Signed webhooks for benches/run.sh's qss part: the load scenario's
participants join (`join`), or Zoom's QSS pushes each of them a
`meeting.participant_qos` of one minute, every stream, a few kB (`push`),
spread evenly over each minute until killed, or (`body`) one such event
written to a file for a load generator.

usage: qss_load.py join|push URL SECRET MEETINGS SIZE N
       qss_load.py body FILE
"""
import hashlib, hmac, http.client, json, sys, time, urllib.parse
from datetime import datetime, timezone


def uuid(m):
    return f"/LoAd{m:05}//mEeT+x==" if m % 3 == 0 else f"LoAd{m:05}mEeT/x+y=="


def user_id(m, p):
    return str(20000000 + m * 10000 + p)


STREAM = {"bitrate": "1055 kbps", "latency": "48 ms", "jitter": "6 ms",
          "avg_loss": "0.2%", "max_loss": "1.1%"}
VIDEO = dict(STREAM, resolution="1280*720", frame_rate="24 fps")
TYPES = [("audio_input", STREAM), ("audio_output", STREAM), ("video_input", VIDEO),
         ("video_output", VIDEO), ("as_input", VIDEO), ("as_output", VIDEO),
         ("audio_device_from_crc", STREAM), ("audio_device_to_crc", STREAM),
         ("video_device_from_crc", VIDEO), ("video_device_to_crc", VIDEO),
         ("audio_device_from_rwg", STREAM), ("audio_device_to_rwg", STREAM),
         ("cpu_usage", {"zoom_min_cpu_usage": "6%", "zoom_avg_cpu_usage": "11%",
                        "zoom_max_cpu_usage": "19%", "system_max_cpu_usage": "38%"}),
         ("wifi_rssi", {"min_rssi": "-61", "avg_rssi": "-55", "max_rssi": "-49", "rssi_unit": "dBm"}),
         ("audio_quality", {"quality": "good", "quality_score": "4.2"}),
         ("video_quality", {"quality": "good", "quality_score": "4.0"})]


def qos_event(m, p, minute):
    qos = [{"date_time": minute, "type": t, "details": d} for t, d in TYPES]
    return {"event": "meeting.participant_qos", "event_ts": int(time.time() * 1000),
            "payload": {"account_id": "simAccount0000000000001", "object": {
                "uuid": uuid(m), "participant": {
                    "user_id": user_id(m, p), "participant_user_id": "",
                    "email": "", "qos": qos}}}}


def joined(m, p):
    return {"event": "meeting.participant_joined", "event_ts": int(time.time() * 1000),
            "payload": {"account_id": "simAccount0000000000001", "object": {
                "uuid": uuid(m), "id": 900000000 + m, "topic": f"Load meeting {m}",
                "participant": {"user_id": user_id(m, p), "user_name": f"Load User {m}-{p}"}}}}


def main():
    mode = sys.argv[1]
    if mode == "body":
        body = json.dumps(qos_event(0, 0, "2026-12-06T10:00:00Z"), separators=(",", ":"))
        open(sys.argv[2], "w").write(body)
        return
    url, secret = sys.argv[2], sys.argv[3].encode()
    meetings, size, n = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
    u = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port)
    people = [(m, p) for m in range(meetings) for p in range(size)][:n]

    def post(event):
        body = json.dumps(event, separators=(",", ":")).encode()
        ts = str(int(time.time()))
        sig = "v0=" + hmac.new(secret, b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
        conn.request("POST", u.path, body, {"content-type": "application/json",
                                             "x-zm-signature": sig, "x-zm-request-timestamp": ts})
        r = conn.getresponse(); r.read()
        if r.status != 200:
            sys.exit(f"{event['event']} answered {r.status}")

    if mode == "join":
        for m, p in people:
            post(joined(m, p))
        return
    # push: each participant once a minute, spread over the minute.
    gap = 60.0 / len(people)
    while True:
        start = time.monotonic()
        minute = datetime.now(timezone.utc).replace(second=0, microsecond=0)
        stamp = minute.strftime("%Y-%m-%dT%H:%M:%SZ")
        for i, (m, p) in enumerate(people):
            post(qos_event(m, p, stamp))
            ahead = start + (i + 1) * gap - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)


main()
