#!/usr/bin/python3
"""Decode TensorBoard event files without TensorBoard: check each TFRecord's masked CRC-32C, parse the Event protos with
Google's protobuf library (Debian's python3-protobuf) from the definitions in proto/ (compiled here with protoc), and
print one JSON object: {"files": [...], "file_version": ..., "scalars": [{"tag", "step", "value", "wall_time"}]}.
Exit status 1 with a message on stderr when a file is malformed (bad CRC, truncated record, unparsable proto)."""
import argparse
import glob
import importlib
import json
import os
import struct
import subprocess
import sys
import tempfile


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data):
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def records(path):
    with open(path, "rb") as f:
        data = f.read()
    offset = 0
    while offset < len(data):
        if offset + 12 > len(data):
            raise ValueError(f"{path}: truncated record header at byte {offset}")
        header = data[offset:offset + 8]
        (length,) = struct.unpack("<Q", header)
        (length_crc,) = struct.unpack("<I", data[offset + 8:offset + 12])
        if length_crc != masked_crc32c(header):
            raise ValueError(f"{path}: length CRC mismatch at byte {offset}")
        start = offset + 12
        end = start + length
        if end + 4 > len(data):
            raise ValueError(f"{path}: truncated record at byte {offset}")
        payload = data[start:end]
        (payload_crc,) = struct.unpack("<I", data[end:end + 4])
        if payload_crc != masked_crc32c(payload):
            raise ValueError(f"{path}: payload CRC mismatch at byte {offset}")
        yield payload
        offset = end + 4


def compile_protos(out_dir):
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "proto")
    subprocess.run(["protoc", f"--proto_path={here}", f"--python_out={out_dir}", "event.proto", "summary.proto"], check=True)
    sys.path.insert(0, out_dir)
    return importlib.import_module("event_pb2")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", help="a folder holding events.out.tfevents.* files")
    args = parser.parse_args()
    files = sorted(glob.glob(os.path.join(args.folder, "events.out.tfevents.*")))
    if not files:
        print(f"{args.folder}: no events.out.tfevents.* files", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as generated:
        event_pb2 = compile_protos(generated)
        result = {"files": [os.path.basename(f) for f in files], "file_version": None, "scalars": []}
        try:
            for path in files:
                for index, payload in enumerate(records(path)):
                    event = event_pb2.Event()
                    event.ParseFromString(payload)
                    kind = event.WhichOneof("what")
                    if index == 0:
                        if kind != "file_version":
                            raise ValueError(f"{path}: the first event carries {kind}, not file_version")
                        result["file_version"] = event.file_version
                        continue
                    if kind != "summary":
                        raise ValueError(f"{path}: event {index} carries {kind}, not a summary")
                    for value in event.summary.value:
                        if value.WhichOneof("value") != "simple_value":
                            raise ValueError(f"{path}: event {index} tag {value.tag} is not a scalar")
                        result["scalars"].append({"tag": value.tag, "step": event.step, "value": value.simple_value, "wall_time": event.wall_time})
        except Exception as e:  # a malformed file is reported as one line, not a traceback
            print(f"{e}", file=sys.stderr)
            return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
