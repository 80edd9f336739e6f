"""The keypoint-set container and its .npz format (vgbench/action/keypoints.py)."""
import numpy as np
import pytest

from vgbench.action.keypoints import COCO17, SCHEMA, KeypointError, KeypointSet


def _set():
    rng = np.random.default_rng(0)
    k = rng.random((2, 4, 17, 3)).astype(np.float32)
    k[1, 3:] = 0
    person = np.array([[1, 1, 0, 1], [1, 1, 1, 0]], bool)
    return KeypointSet(k, [4, 3], person, [[48, 64], [48, 64]], ["v0", "v1"], {"backend": "test"})


def test_round_trip_is_exact(tmp_path):
    s = _set()
    t = KeypointSet.load(s.save(tmp_path / "kp.npz"))
    np.testing.assert_array_equal(t.keypoints, s.keypoints)
    np.testing.assert_array_equal(t.person, s.person)
    assert t.ids == ["v0", "v1"] and t.lengths.tolist() == [4, 3] and t.img_shape.tolist() == [[48, 64]] * 2
    assert t.meta == {"backend": "test", "schema": SCHEMA}
    assert t.video(1).shape == (3, 17, 3) and len(COCO17) == 17


@pytest.mark.parametrize("change, message", [
    (lambda a: a.update(keypoints=a["keypoints"][..., :2]), r"shape \[N, T, 17, 3\]"),
    (lambda a: a.update(lengths=[4, 5]), "'v1' has length 5, outside"),
    (lambda a: a.update(lengths=[0, 3]), "'v0' has length 0"),
    (lambda a: a.update(ids=["v0", "v0"]), "'v0' appears more than once"),
    (lambda a: a["keypoints"].__setitem__((0, 0, 0, 0), np.nan), "NaN"),
    (lambda a: a.update(person=np.ones((2, 4), bool)), "after a video's length"),
    (lambda a: a.update(img_shape=[[48, 64]]), r"img_shape must have shape \[2, 2\]"),
])
def test_bad_sets_are_refused(change, message):
    s = _set()
    a = dict(keypoints=s.keypoints.copy(), lengths=s.lengths, person=s.person, img_shape=s.img_shape, ids=s.ids)
    change(a)
    with pytest.raises(KeypointError, match=message):
        KeypointSet(**a)


def test_bad_files_name_the_file(tmp_path):
    np.savez(tmp_path / "other.npz", x=np.zeros(1))
    with pytest.raises(KeypointError, match="other.npz: not a keypoint file"):
        KeypointSet.load(tmp_path / "other.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(KeypointError, match="junk.npz: cannot read"):
        KeypointSet.load(tmp_path / "junk.npz")
    s = _set()
    s.lengths = np.array([4, 9])
    s.save(tmp_path / "broken.npz")
    with pytest.raises(KeypointError, match="broken.npz: video 'v1' has length 9"):
        KeypointSet.load(tmp_path / "broken.npz")
