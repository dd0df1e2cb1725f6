"""Request and response bodies of the service (pydantic v2; they are also its OpenAPI schema).

``/v1`` is molops' own API: one result per input molecule, in order, each with its own ``error``.
``/v2`` follows the Open Inference Protocol (KServe v2, as Triton speaks it) with JSON or binary
tensors (``serving/v2_binary.py``), so that an off-the-shelf v2 client can call a molops model.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _Strict(BaseModel):
    """A request part read as its schema says: no ``false`` for a number, no ``"3"`` for an integer
    (pydantic's lax mode would take them, and the schema would not be the contract)."""

    model_config = ConfigDict(strict=True)


#: How the service reads each SMILES it is sent, over /v1 and /v2 alike: as ingest does, since both
#: parse with ``chem.standardize``, which accepts a CXSMILES and refuses any other inner whitespace.
SMILES_RULES = (
    "Leading and trailing whitespace is ignored. A CXSMILES (a SMILES, a space and one `|...|` "
    "extension, as ChemAxon/Marvin export it, e.g. `C1CC1 |$R;;$|`) is read with its extension; any "
    "other whitespace inside a SMILES, or an extension RDKit cannot read, gets an "
    "`unparsable_structure` error."
)


class PredictRequest(_Body):
    smiles: list[str] = Field(
        description=f"SMILES strings to predict (or explain), at most `max_molecules`. {SMILES_RULES}"
    )
    model: str | None = Field(None, description="A served model's name; default: the only one served.")


class Applicability(BaseModel):
    similarity: float | None = Field(
        description="Tanimoto similarity (Morgan r=2) of the nearest training molecule."
    )
    in_domain: bool | None = Field(description="similarity ≥ the model's applicability-domain threshold.")
    threshold: float


class PredictResult(BaseModel):
    smiles: str
    canonical_smiles: str | None
    inchikey: str | None
    mean: float | None
    std: float | None
    applicability: Applicability
    model_name: str
    model_version: int
    error: str | None = Field(description="Why this molecule has no prediction; null when it has one.")


class PredictResponse(BaseModel):
    request_id: str
    results: list[PredictResult]


class ExplainResult(BaseModel):
    smiles: str
    canonical_smiles: str | None = Field(description="The standardised parent the weights refer to.")
    inchikey: str | None
    prediction: float | None = Field(description="The model's mean, as /v1/predict answers it.")
    base_value: float | None = Field(
        description="What the model predicts before seeing the molecule: its expected prediction over the "
        "training molecules (tree models) or the mean training target (other models)."
    )
    atom_weights: list[float] = Field(
        description="One per heavy atom of the parent, in RDKit's atom order (the order of the atoms in "
        "`canonical_smiles`); base_value + sum(atom_weights) + remainder = prediction."
    )
    remainder: float | None = Field(
        description="What no atom carries: the SHAP values of descriptor-like features of a tree model "
        "(0 for masking)."
    )
    method: Literal["shap_tree", "mask_bits", "mask_dummy_atom"] | None = Field(
        description="shap_tree: TreeSHAP mapped to fingerprint environments; mask_bits: the drop when an "
        "atom's fingerprint environments are removed; mask_dummy_atom: the drop when it becomes a dummy atom."
    )
    svg: str | None = Field(
        None, description="The similarity map as SVG text, when asked for with `?svg=true`."
    )
    model_name: str
    model_version: int
    error: str | None = Field(description="Why this molecule has no explanation; null when it has one.")


class ExplainResponse(BaseModel):
    request_id: str
    results: list[ExplainResult]


class ServedModelInfo(BaseModel):
    name: str
    alias: str | None
    version: int | None
    ready: bool
    model: str | None = Field(None, description="The surrogate kind (gp, rf, lightgbm, dmpnn, …).")
    featurizer: str | None = None
    target: str | None = None
    dataset: str | None = None
    dataset_version: int | None = None
    n_train: int | None = None
    domain_threshold: float | None = None
    runtime: str | None = Field(None, description="What computes predictions: native or onnx (serve --onnx).")
    shadow: dict[str, Any] | None = None


class ModelsResponse(BaseModel):
    models: list[ServedModelInfo]


class ErrorDetail(BaseModel):
    code: str
    message: str
    request_id: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


class Health(BaseModel):
    status: Literal["ok", "loading", "failed"]
    detail: str | None = None


# -- Open Inference Protocol (v2) ----------------------------------------------------------------
Datatype = Literal[
    "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
    "FP16", "FP32", "FP64", "BYTES",
]  # fmt: skip


class Tensor(BaseModel):
    name: str
    shape: list[int]
    datatype: Datatype
    parameters: dict[str, Any] | None = None
    data: list[Any] | None = Field(None, description="Absent when the tensor is binary (binary_data_size).")


OutputName = Literal["mean", "std", "similarity", "in_domain", "canonical_smiles", "inchikey", "error"]


class SmilesTensor(_Strict):
    """The one input of a molops model: SMILES strings (shape ``[n]`` or ``[n, 1]``)."""

    name: Literal["smiles"]
    shape: list[int]
    datatype: Literal["BYTES"]
    parameters: dict[str, Any] | None = None
    data: list[str | list[str]] | None = Field(
        None,
        description="The SMILES; absent when they follow the JSON header as binary data (binary_data_size). "
        + SMILES_RULES,
    )


class RequestedOutput(_Strict):
    name: OutputName
    parameters: dict[str, Any] | None = None


class InferRequest(_Strict):
    id: str | None = None
    parameters: dict[str, Any] | None = None
    inputs: list[SmilesTensor] = Field(min_length=1, max_length=1)
    outputs: list[RequestedOutput] | None = None


class V2Error(BaseModel):
    """The Open Inference Protocol's error body."""

    error: str


class InferResponse(BaseModel):
    model_name: str
    model_version: str | None = None
    id: str | None = None
    parameters: dict[str, Any] | None = None
    outputs: list[Tensor]


class TensorMeta(BaseModel):
    name: str
    datatype: Datatype
    shape: list[int]


class ModelMetadata(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMeta]
    outputs: list[TensorMeta]


class ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]
