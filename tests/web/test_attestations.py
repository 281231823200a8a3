"""PEP 740: an upload's attestations are kept and served back as the file's provenance."""

from __future__ import annotations

import json

from tests.web.test_upload import HOST, PEP691, WHEEL, RefusalTestCase, UploadTestCase

ATTESTATION = {
    "version": 1,
    "verification_material": {"certificate": "Y2VydA==", "transparency_entries": [{}]},
    "envelope": {"statement": "c3RhdGVtZW50", "signature": "c2lnbmF0dXJl"},
}


class AttestationTests(UploadTestCase):
    def test_attestations_are_served_as_provenance_on_both_page_kinds(self) -> None:
        reply = self.upload(self.wheel(), attestations=json.dumps([ATTESTATION]))
        self.assertOK(reply)
        page = self.simple_json()
        (entry,) = page["files"]
        self.assertEqual(page["meta"]["api-version"], "1.3")
        self.assertTrue(entry["provenance"].endswith(WHEEL + ".provenance"))
        html = self.get(f"{HOST}/alice/dev/+simple/hello-pkg/").body.decode()
        self.assertIn('data-provenance="', html)
        self.assertIn('<meta name="pypi:repository-version" content="1.3">', html)
        url = entry["provenance"].replace("../../../../", HOST + "/")
        served = self.get(url)
        self.assertEqual(served.code, 200, served)
        self.assertEqual(served.header("content-type"), "application/json")
        provenance = json.loads(served.body)
        self.assertEqual(provenance["version"], 1)
        (bundle,) = provenance["attestation_bundles"]
        self.assertEqual(bundle["attestations"], [ATTESTATION])
        self.assertEqual(bundle["publisher"]["claims"], {"uploader": "alice"})

    def test_provenance_goes_with_the_file_through_inheritance(self) -> None:
        self.assertOK(self.upload(self.wheel(), attestations=json.dumps([ATTESTATION])))
        reply = self.server.request("PUT", "/alice/top", {"bases": ["alice/dev"]}, headers=self.alice)
        self.assertEqual(reply.code, 200, reply)
        page = self.get(f"{HOST}/alice/top/+simple/hello-pkg/", Accept=PEP691).json
        self.assertIn("provenance", page["files"][0])

    def test_without_attestations_no_provenance_is_claimed(self) -> None:
        self.assertOK(self.upload(self.wheel()))
        page = self.simple_json()
        self.assertEqual(page["meta"]["api-version"], "1.1")
        self.assertNotIn("provenance", page["files"][0])


class AttestationRefusalTests(RefusalTestCase):
    def test_malformed_attestations_are_refused_and_nothing_is_stored(self) -> None:
        for value, phrase in [
            ("not json", "attestations field is not JSON"),
            ("{}", "attestations field must be a non-empty JSON array"),
            (json.dumps([{"version": 1}]), "each attestation must be an object with"),
            (json.dumps([dict(ATTESTATION, version=2)]), "unsupported attestation version 2"),
        ]:
            reply = self.upload(self.wheel(), attestations=value)
            self.assertEqual(reply.code, 400, reply)
            self.assertIn(phrase, reply.phrase)
            self.assertUnchanged()
