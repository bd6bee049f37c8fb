"""The label-schema rules (``resolve_schema``), class-name disambiguation, existing projects, and
label specs as CVAT wants them."""

from __future__ import annotations

from typing import Any

import pytest
from convert_support import exchanges, serve

from annosync.convert import (
    bind,
    check_schema,
    infer_field,
    label_id_patches,
    resolve_schema,
    schema_from_project,
    to_specs,
)
from annosync.errors import InputError
from annosync.model.cvat import LabelSpec
from annosync.model.labels import (
    Classification,
    Detection,
    Detections,
    IndexMask,
    Polyline,
    Polylines,
    Segmentation,
)
from annosync.model.manifest import FieldSchema, Manifest
from annosync.model.schema import ObservedField


def fs(**kw: Any) -> FieldSchema:
    return FieldSchema.model_validate(kw)


def dets(*items: Detection) -> Detections:
    return Detections(detections=list(items))


def det(label: str = "car", **attrs: Any) -> Detection:
    return Detection(label=label, bounding_box=(0.1, 0.1, 0.2, 0.2), attributes=attrs)


def messages(schemas: dict[str, FieldSchema], observed: dict[str, ObservedField] | None = None,
             **kw: Any) -> list[str]:
    return [f"{p.location.json_path}: {p.message}" for p in check_schema(schemas, observed, **kw)]


def observe(path: str, *values: Any) -> dict[str, ObservedField]:
    return {path: infer_field(path, values)}


# -- new and existing fields -------------------------------------------------------------------
def test_new_field_needs_a_type_and_classes() -> None:
    out = messages({"gt": fs(), "kp": fs(type="keypoints")})
    assert out == ["$.label_schema.gt.type: 'gt' is a new field: give its label type "
                   "(classification, detections, polylines, ...)",
                   "$.label_schema.kp.classes: 'kp' is a new field: give its classes"]


def test_existing_field_takes_type_classes_and_attributes_from_labels() -> None:
    observed = observe("gt", dets(det("car", iscrowd=False), det("dog", iscrowd=True)))
    schema = resolve_schema({"gt": fs()}, observed)
    rf = schema.fields["gt"]
    assert (rf.type, rf.single, rf.existing) == ("detections", False, True)
    assert [c.name for c in rf.classes] == ["car", "dog"]
    attr = rf.classes[0].attribute("iscrowd")
    assert attr is not None and (attr.type, attr.value_type) == ("checkbox", "bool")


def test_declared_type_must_match_stored_labels() -> None:
    observed = observe("gt", dets(det()))
    assert messages({"gt": fs(type="polylines")}, observed) == [
        "$.label_schema.gt.type: field 'gt' stores detections but its label type is polylines"]
    assert messages({"gt": fs(type="detection")}, observed) == [
        "$.label_schema.gt.type: field 'gt' stores a list of labels but its label type is "
        "'detection'"]
    # detections / instances and polylines / polygons are the same stored model
    assert messages({"gt": fs(type="instances")}, observed) == []
    lines = observe("ln", Polylines(polylines=[Polyline(label="a", points=[[(0, 0), (1, 1)]])]))
    assert messages({"ln": fs(type="polygons")}, lines) == []


def test_one_field_one_kind() -> None:
    observed = observe("gt", dets(det()), Classification(label="x"))
    assert "one field, one label type" in messages({"gt": fs()}, observed)[0]


def test_inferred_kinds() -> None:
    from annosync.model.labels import BinaryMask

    masked = det()
    masked.mask = BinaryMask(size=(1, 1), counts=[0, 1])
    assert resolve_schema({"m": fs()}, observe("m", dets(masked))).fields["m"].type == "instances"
    filled = Polylines(polylines=[Polyline(label="a", points=[[(0, 0), (1, 0), (1, 1)]],
                                           closed=True, filled=True)])
    assert resolve_schema({"p": fs()}, observe("p", filled)).fields["p"].type == "polygons"
    single = resolve_schema({"d": fs()}, observe("d", det())).fields["d"]
    assert (single.type, single.single) == ("detections", True)


def test_existing_classes_must_be_listed() -> None:
    observed = observe("gt", dets(det("car"), det("bus")))
    assert messages({"gt": fs(classes=["car"])}, observed) == [
        "$.label_schema.gt.classes: field 'gt' has labels of classes not in its class list: "
        "['bus']"]


def test_class_names_checked() -> None:
    out = messages({"gt": fs(type="detections", classes=["a", "a", ""])})
    assert "class 'a' is listed twice" in out[0] and "must not be empty" in out[1]


# -- attributes ---------------------------------------------------------------------------------
def test_label_id_is_reserved() -> None:
    out = messages({"gt": fs(type="detections", classes=["a"],
                             attributes={"label_id": {"type": "text"}})})
    assert out == ["$.label_schema.gt.attributes.label_id: attribute name 'label_id' is "
                   "reserved: annosync stores each label's id in it"]


def test_occluded_must_be_boolean_and_single() -> None:
    observed = observe("gt", dets(det(occ=1)))
    out = messages({"gt": fs(attributes={"occ": {"type": "occluded"}})}, observed)
    assert out == ["$.label_schema.gt.attributes.occ: occluded attribute 'occ' must hold "
                   "booleans (true/false); field 'gt' has int values"]
    out = messages({"gt": fs(type="detections", classes=["a"], attributes={
        "o1": {"type": "occluded"}, "o2": {"type": "occluded"}})})
    assert out == ["$.label_schema.gt.attributes: field 'gt', class 'a': at most one occluded "
                   "attribute (found ['o1', 'o2'])"]


def test_group_id_must_be_integer_and_single_per_class() -> None:
    observed = observe("gt", dets(det(g="x")))
    out = messages({"gt": fs(attributes={"g": {"type": "group_id"}})}, observed)
    assert "group_id attribute 'g' must hold integers" in out[0]
    out = messages({"gt": fs(type="detections", classes=["a", {"classes": ["a"], "attributes": {
        "g2": {"type": "group_id"}}}], attributes={"g1": {"type": "group_id"}})})
    assert "at most one group_id attribute (found ['g1', 'g2'])" in out[0]


def test_occluded_and_group_id_are_linked_automatically() -> None:
    observed = observe("gt", dets(det(occluded=True, group_id=3), det(occluded=False)))
    cls = resolve_schema({"gt": fs()}, observed).fields["gt"].classes[0]
    assert (cls.occluded_attr, cls.group_id_attr) == ("occluded", "group_id")
    # not when the values do not fit
    observed = observe("gt", dets(det(occluded="yes", group_id=True)))
    cls = resolve_schema({"gt": fs()}, observed).fields["gt"].classes[0]
    assert (cls.occluded_attr, cls.group_id_attr) == (None, None)


def test_run_wide_occluded_and_group_attrs() -> None:
    schema = resolve_schema({
        "gt": fs(type="detections", classes=["a"]),
        "own": fs(type="detections", classes=["b"], attributes={"vis": {"type": "occluded"}}),
        "tags": fs(type="classifications", classes=["c"]),
        "s": fs(type="scalar"),
    }, occluded_attr="is_occ", group_id_attr="grp")
    f = schema.fields
    assert (f["gt"].classes[0].occluded_attr, f["gt"].classes[0].group_id_attr) == \
        ("is_occ", "grp")
    assert f["own"].classes[0].occluded_attr == "vis"  # a field's own wiring wins
    assert (f["tags"].classes[0].occluded_attr, f["tags"].classes[0].group_id_attr) == \
        (None, "grp")  # tags have groups, no occluded flag
    out = messages({"t": fs(type="classification", classes=["x"],
                            attributes={"o": {"type": "occluded"}})})
    assert out == ["$.label_schema.t.attributes: field 't' is classification: CVAT tags have "
                   "no occluded flag"]
    out = messages({"gt": fs(type="detections", classes=["car"])},
                   observe("gt", dets(det(is_occ="no"))), occluded_attr="is_occ")
    assert out[0].startswith("$.cvat.occluded_attr: occluded attribute 'is_occ' must hold")


def test_attribute_type_inference() -> None:
    many = [det(n=i, f=i / 3, s=f"v{i}", b=i % 2 == 0, few="x" if i % 2 else "y", mixed=i if i % 2
                else str(i)) for i in range(30)]
    observed = observe("gt", dets(*many))
    cls = resolve_schema({"gt": fs()}, observed).fields["gt"].classes[0]
    kinds = {a.name: (a.type, a.values, a.value_type) for a in cls.attributes}
    assert kinds["b"] == ("checkbox", None, "bool")
    assert kinds["few"] == ("select", ["x", "y"], "str")
    assert kinds["n"] == ("number", [0, 29, 1], "int")
    assert kinds["f"][0] == "text" and kinds["f"][2] == "float"
    assert kinds["s"][0] == "text" and kinds["s"][2] == "str"
    assert kinds["mixed"] == ("text", None, None)
    ints = observe("gt", dets(det(k=1), det(k=2), det(k=3)))
    (attr,) = resolve_schema({"gt": fs()}, ints).fields["gt"].classes[0].attributes
    assert (attr.type, attr.values, attr.value_type) == ("select", [1, 2, 3], "int")


def test_attributes_true_false_list_dict() -> None:
    observed = observe("gt", dets(det(a=1, b="x", c=True)))
    names = lambda spec: [a.name for a in resolve_schema(  # noqa: E731
        {"gt": fs(attributes=spec)}, observed).fields["gt"].classes[0].attributes]
    assert names(True) == ["a", "b", "c"]
    assert names(False) == []
    assert names(["c", "a"]) == ["c", "a"]
    assert names({"b": {}, "new": {"type": "text"}}) == ["b", "new"]
    assert messages({"gt": fs(attributes=["zzz"])}, observed) == [
        "$.label_schema.gt.attributes.zzz: attribute 'zzz' has no type and field 'gt' has no "
        "values of it to infer one from: give its type"]


def test_select_radio_checkbox_number_rules() -> None:
    base = {"type": "detections", "classes": ["a"]}
    cases = {
        "s1": ({"type": "select"}, "select attribute 's1' needs a list of values"),
        "s2": ({"type": "radio", "values": [1, "1"]}, "values must be distinct as text"),
        "s3": ({"type": "select", "values": ["x"], "default": "y"},
               "default 'y' is not one of its values"),
        "c1": ({"type": "checkbox", "default": "yes"}, "default must be true or false"),
        "n1": ({"type": "number", "values": [5, 1]}, "min must be less than max"),
        "n2": ({"type": "number", "values": [0, 5, 0]}, "step must be positive"),
        "n3": ({"type": "number", "values": ["a", "b"]}, "values must be [min, max] or"),
    }
    for name, (spec, expected) in cases.items():
        out = messages({"gt": fs(**base, attributes={name: spec})})
        assert len(out) == 1 and expected in out[0], (name, out)
    observed = observe("gt", dets(det(k="z")))
    out = messages({"gt": fs(attributes={"k": {"type": "select", "values": ["x"]}})}, observed)
    assert "existing labels have values not in the list: ['z']" in out[0]
    out = messages({"gt": fs(attributes={"k": {"type": "checkbox"}})}, observed)
    assert "checkbox attribute 'k' must hold booleans" in out[0]


def test_names_longer_than_64_characters() -> None:
    out = messages({"gt": fs(type="detections", classes=["c" * 65],
                             attributes={"a" * 65: {"type": "text"}})})
    assert any("longer than CVAT's 64-character limit" in m for m in out)
    assert len(out) == 2


def test_per_class_attributes() -> None:
    schema = resolve_schema({"gt": fs(type="detections", classes=[
        {"classes": ["car", "bus"], "attributes": {"make": {"type": "text"},
                                                    "n": {"type": "text"}}},
        "person"], attributes={"n": {"type": "number", "values": [0, 9]}})})
    by = {c.name: {a.name: a.type for a in c.attributes} for c in schema.fields["gt"].classes}
    assert by == {"car": {"n": "text", "make": "text"}, "bus": {"n": "text", "make": "text"},
                  "person": {"n": "number"}}


# -- scalars and segmentation ------------------------------------------------------------------
def test_scalar_fields() -> None:
    schema = resolve_schema({"s": fs(type="scalar"), "c": fs(type="scalar", classes=["x", "y"])},
                            observe("s", 1, 2, 3))
    s, c = schema.fields["s"], schema.fields["c"]
    assert s.scalar_as_value and s.value_cvat_name == "s" and s.scalar_type == "int"
    assert not c.scalar_as_value and [k.name for k in c.classes] == ["x", "y"]
    assert messages({"c": fs(type="scalar", classes=["x"])}, observe("c", "x", "q")) == [
        "$.label_schema.c.classes: field 'c' has values not in its classes: ['q']"]
    schema = resolve_schema({"s": fs(type="scalar", attributes={"a": {"type": "text"}})})
    assert schema.notes == ["s: attributes are unused for scalar fields (ignored)"]


def test_mask_targets_only_for_segmentation() -> None:
    assert messages({"gt": fs(type="detections", classes=["a"], mask_targets={1: "a"})}) == [
        "$.label_schema.gt.mask_targets: mask_targets only apply to segmentation fields; 'gt' "
        "is detections"]
    assert messages({"seg": fs(type="segmentation")}) == [
        "$.label_schema.seg.mask_targets: 'seg' is a new segmentation field: give its "
        "mask_targets ({value: class})"]
    import numpy as np

    observed = observe("seg", Segmentation(mask=IndexMask.from_array(np.array([[0, 3, 7]]))))
    schema = resolve_schema({"seg": fs()}, observed)
    assert schema.fields["seg"].mask_targets == {3: "3", 7: "7"}
    assert messages({"seg": fs(mask_targets={3: "x"})}, observed) == [
        "$.label_schema.seg.mask_targets: masks of 'seg' have pixel values without a target: [7]"]
    assert "take no attributes" in messages({"seg": fs(mask_targets={3: "x"},
                                                       attributes={"a": {"type": "text"}})},
                                            observed)[0]


# -- disambiguation -----------------------------------------------------------------------------
def test_shared_classes_are_renamed_for_every_field() -> None:
    schema = resolve_schema({
        "gt": fs(type="detections", classes=["car", "person"]),
        "pred": fs(type="detections", classes=["car", "bike"]),
        "frames.boxes": fs(type="detections", classes=["person"]),
        "car": fs(type="scalar"),
    })
    names = {p: [c.cvat_name for c in f.classes] for p, f in schema.fields.items()}
    assert names == {"gt": ["car_gt", "person_gt"], "pred": ["car_pred", "bike"],
                     "frames.boxes": ["person_frames.boxes"], "car": []}
    assert schema.fields["car"].value_cvat_name == "car_car"
    specs = [s.name for s in to_specs(schema)]
    assert len(specs) == len(set(specs))


def test_disambiguation_collisions_are_errors() -> None:
    out = messages({"gt": fs(type="detections", classes=["car", "car_pred"]),
                    "pred": fs(type="detections", classes=["car"])})
    assert out and "collides" in out[0]


def test_manifest_shorthands_resolve() -> None:
    manifest = Manifest.model_validate({
        "anno_key": "k", "dataset": ".", "label_field": "gt", "label_type": "detections",
        "classes": ["a"], "attributes": {"x": {"type": "text"}}, "allow_deletions": False})
    rf = resolve_schema(manifest.field_schemas()).fields["gt"]
    assert [a.name for a in rf.classes[0].attributes] == ["x"] and not rf.allow_deletions


# -- label specs ------------------------------------------------------------------------------
def test_specs_as_cvat_wants_them() -> None:
    schema = resolve_schema({
        "gt": fs(type="detections", classes=["car"], attributes={
            "color": {"type": "select", "values": ["red", "blue"], "mutable": False},
            "parked": {"type": "checkbox"},
            "lit": {"type": "checkbox", "default": True},
            "plate": {"type": "text"},
            "seats": {"type": "number", "values": [0, 8]},
            "ok": {"type": "radio", "values": [True, False], "default": False},
            "make": {"type": "text", "read_only": True},
            "occ": {"type": "occluded"}, "grp": {"type": "group_id"}}),
        "tag": fs(type="classification", classes=["day"]),
        "score": fs(type="scalar"),
        "w": fs(type="scalar", classes=["rain"]),
        "frames.kp": fs(type="keypoints", classes=["joint"]),
    })
    specs = {s.name: s.model_dump(exclude_none=True) for s in to_specs(schema)}
    car = {a["name"]: a for a in specs["car"]["attributes"]}
    assert specs["car"]["type"] == "rectangle"
    assert set(car) == {"color", "parked", "lit", "plate", "seats", "ok", "make", "label_id"}
    assert car["color"] == {"name": "color", "mutable": False, "input_type": "select",
                            "default_value": "red", "values": ["red", "blue"]}
    assert car["parked"]["values"] == ["false"] and car["parked"]["default_value"] == "false"
    assert car["lit"]["values"] == ["true"] and car["lit"]["default_value"] == "true"
    assert car["plate"]["values"] == [""] and car["plate"]["input_type"] == "text"
    assert car["seats"]["values"] == ["0", "8", "1"]
    assert car["ok"]["values"] == ["true", "false"] and car["ok"]["default_value"] == "false"
    assert car["label_id"] == {"name": "label_id", "mutable": True, "input_type": "text",
                               "default_value": "", "values": [""]}
    assert specs["day"]["type"] == "tag" and [a["name"] for a in specs["day"]["attributes"]] == \
        ["label_id"]
    assert specs["score"]["attributes"] == [{"name": "value", "mutable": True,
                                             "input_type": "text", "default_value": "",
                                             "values": [""]}]
    assert specs["rain"]["attributes"] == []  # scalar classes carry no ids
    assert specs["joint"]["type"] == "points"


def test_specs_are_accepted_like_the_recorded_project() -> None:
    # the recorded POST /api/projects body uses the same spellings
    body = next(e for e in exchanges("recordings/02_create_project.json")
                if e["method"] == "POST")["request_body"]
    recorded = {a["name"]: a for a in body["labels"][0]["attributes"]}
    schema = resolve_schema({"gt": fs(type="detections", classes=["car"], attributes={
        "color": {"type": "select", "values": ["red", "green", "blue"], "mutable": False},
        "parked": {"type": "checkbox"}, "plate": {"type": "text", "mutable": False}})})
    ours = {a.name: a.model_dump(exclude_none=True) for a in to_specs(schema)[0].attributes}
    for name, spec in recorded.items():
        assert ours[name] == spec


# -- binding and existing projects ----------------------------------------------------------------
def test_bind_maps_ids_both_ways() -> None:
    schema = resolve_schema({"gt": fs(type="detections", classes=["car", "person"]),
                             "kp": fs(type="keypoints", classes=["person"])})
    served = serve(to_specs(schema))
    served.append(LabelSpec(id=999, name="made_in_cvat"))
    bound = bind(schema, served)
    car = bound.label_for("gt", "car")
    assert car is not None and bound.label(car.id) is car
    assert set(car.specs) == {"label_id"}
    person_kp = bound.label_for("kp", "person")
    assert person_kp is not None and person_kp.name == "person_kp"
    stray = bound.label(999)
    assert stray is not None and stray.targets == []
    assert bound.missing == []
    assert bind(schema, served[:1]).missing == ["person_gt", "person_kp"]
    # serializable: the reconciler stores it
    from annosync.convert import BoundSchema

    again = BoundSchema.model_validate_json(bound.model_dump_json())
    assert again.label_for("gt", "car") == car


def test_existing_project_supplies_classes_and_attributes() -> None:
    labels = next(e for e in exchanges("recordings/02_create_project.json")
                  if e["path"] == "/api/labels")["response_body"]["results"]
    observed = observe("gt", dets(det("car", color="red", parked=True)))
    schema = schema_from_project(labels, {"gt": fs(classes=["ignored"]),
                                          "tags": fs(type="classifications")},
                                 observed, occluded_attr="occ", group_id_attr="grp")
    assert schema.from_project
    gt = schema.fields["gt"]
    assert [c.name for c in gt.classes] == ["car", "person", "road", "daytime"]
    car = gt.class_by_name("car")
    assert car is not None and car.cvat_name == "car"
    kinds = {a.name: (a.type, a.values) for a in car.attributes}
    assert kinds == {"color": ("select", ["red", "green", "blue"]), "parked": ("checkbox", None),
                     "plate": ("text", None), "occ": ("occluded", None),
                     "grp": ("group_id", None)}
    bound = bind(schema, labels)
    shared = bound.label_for("gt", "car")
    assert shared is not None and [t.field for t in shared.targets] == ["gt", "tags"]
    assert bound.route(shared, "rectangle").field == "gt"  # type: ignore[union-attr]
    assert bound.route(shared, "tag").field == "tags"  # type: ignore[union-attr]
    assert bound.route(shared, "ellipse") is None
    # the project lacks label_id attributes: patches add them, keeping existing attribute ids
    patches = label_id_patches(LabelSpec.model_validate(x) for x in labels)
    assert [p.name for p in patches] == ["car", "person", "road", "daytime"]
    assert [a.id for a in patches[0].attributes] == [16, 17, 18, None]


def test_existing_project_fields_must_not_compete() -> None:
    with pytest.raises(InputError) as err:
        schema_from_project([], {"a": fs(type="detections"), "b": fs(type="instances")})
    assert "each field needs a different label type" in str(err.value)


def test_run_wide_options_beat_auto_linking_but_not_explicit_wiring() -> None:
    observed = observe("gt", dets(det(occluded=True, group_id=2)))
    cls = resolve_schema({"gt": fs()}, observed, occluded_attr="is_occ",
                         group_id_attr="grp").fields["gt"].classes[0]
    kinds = {a.name: a.type for a in cls.attributes}
    assert kinds == {"occluded": "checkbox", "group_id": "select", "is_occ": "occluded",
                     "grp": "group_id"}
    explicit = resolve_schema({"gt": fs(attributes={"occluded": {"type": "occluded"}})},
                              observed, occluded_attr="is_occ").fields["gt"].classes[0]
    assert explicit.occluded_attr == "occluded"
    # an "occluded" boolean on a tag field is just a checkbox (tags have no occluded flag)
    tags = observe("t", Classification(label="x", attributes={"occluded": True}))
    (attr,) = resolve_schema({"t": fs()}, tags).fields["t"].classes[0].attributes
    assert attr.type == "checkbox"
