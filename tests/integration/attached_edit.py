#!/usr/bin/env python3
"""Edit the signatures an archive of build --sign-key carries, as someone
who wants a false one to pass would, for sign-archive.sh: the archive's
index.json names the image, whose annotation org.distill.attached names an
image index listing the signature (sha256-<hex>.sig) and attestation
(.att) manifests.

usage: attached_edit.py ARCHIVE OUT change-payload
         the signature's payload names another repository, stored under
         its own digest (its signature kept)
       attached_edit.py ARCHIVE OUT graft OTHER
         OTHER's signature and attestation manifests (of another image),
         tagged for ARCHIVE's image
Writes OUT, a plain tar; ARCHIVE is left as it is."""
import hashlib
import io
import json
import sys
import tarfile

ATTACHED = "org.distill.attached"
REF_NAME = "org.opencontainers.image.ref.name"


def dumps(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


class Archive:
    def __init__(self, path):
        with tarfile.open(path) as t:
            self.members = [(m, t.extractfile(m).read() if m.isfile() else None) for m in t.getmembers()]
        self.index = json.loads(self.member("index.json"))

    def member(self, name):
        return next(data for m, data in self.members if m.name == name)

    def blob(self, digest):
        return self.member("blobs/sha256/" + digest[7:])

    def put(self, data):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        name = "blobs/sha256/" + digest[7:]
        if not any(m.name == name for m, _ in self.members):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            self.members.insert(len(self.members) - 4, (info, data))
        return {"digest": digest, "size": len(data)}

    def attached(self):
        image = self.index["manifests"][0]
        return image, json.loads(self.blob(image["annotations"][ATTACHED]))

    def set_attached(self, image, attached):
        image["annotations"][ATTACHED] = self.put(dumps(attached))["digest"]
        self.replace("index.json", dumps(self.index))

    def replace(self, name, data):
        for i, (m, _) in enumerate(self.members):
            if m.name == name:
                m.size = len(data)
                self.members[i] = (m, data)

    def write(self, path):
        with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as t:
            for m, data in self.members:
                t.addfile(m, io.BytesIO(data) if data is not None else None)


def change_payload(a):
    image, attached = a.attached()
    sig = next(d for d in attached["manifests"] if d["annotations"][REF_NAME].endswith(".sig"))
    manifest = json.loads(a.blob(sig["digest"]))
    payload = a.blob(manifest["layers"][0]["digest"])
    changed = payload.replace(b'"docker-reference":"', b'"docker-reference":"x')
    assert changed != payload, "no docker-reference in the payload"
    manifest["layers"][0].update(a.put(changed))
    sig.update(a.put(dumps(manifest)))
    a.set_attached(image, attached)


def graft(a, other_path):
    other = Archive(other_path)
    image, _ = a.attached()
    theirs, attached = other.attached()
    for d in attached["manifests"]:
        m = json.loads(other.blob(d["digest"]))
        for blob in [m["config"]] + m["layers"] + [d]:
            a.put(other.blob(blob["digest"]))
        d["annotations"][REF_NAME] = d["annotations"][REF_NAME].replace(theirs["digest"][7:], image["digest"][7:])
    a.set_attached(image, attached)


def main():
    archive, out, op = sys.argv[1:4]
    a = Archive(archive)
    if op == "change-payload":
        change_payload(a)
    elif op == "graft":
        graft(a, sys.argv[4])
    else:
        raise SystemExit(f"attached_edit.py: no operation {op}")
    a.write(out)


if __name__ == "__main__":
    main()
