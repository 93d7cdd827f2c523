"""Feature columns: tf.feature_column's inventory, split into host and model halves.

The host half (`transform`) turns a raw batch (numpy, Arrow strings with
nulls) into numeric arrays, vectorised; the model half (`input_layer`,
`linear_model`) runs inside a `model_fn` and owns the parameters. Statistics
learnt from data come from an explicit `analyze` pass and travel with the
frozen columns (`serialize` / `deserialize`). See docs/ARCHITECTURE.md.

`__all__` below is the public API. The modules form layers; each imports only
from its own layer or those above it, with no cycle and no function-level
import:

1. `errors`, `validation` (argument checks), `hashing`, `sketch` (streaming
   statistics), `in_model` (jnp helpers run inside a `model_fn`);
2. `raw_values` (raw values to flat Arrow/numpy and a `[B, k]` layout), then
   `encoded_strings` (a string feature as distinct values and codes), then
   `host_context` (one raw batch, with per-batch memos);
3. `base` (column base classes, walking a tree of columns), `parse_spec`;
4. one column family per module: `numeric`, `categorical`, `vocabulary`,
   `bucketized`, `crossed`, `weighted`, `dense`;
5. passes over columns: `transform`, `analyze`, `layers`, `serialize`.

Example:
    >>> from estimators import feature_column as fc
    >>> fc.indicator_column(fc.categorical_column_with_identity("digit", 10)).name
    'digit_indicator'
"""

from estimators.feature_column.analyze import analyze, is_frozen
from estimators.feature_column.base import (
    CategoricalColumn,
    DenseColumn,
    FeatureColumn,
    is_feature_column,
)
from estimators.feature_column.bucketized import BucketizedColumn, bucketized_column
from estimators.feature_column.categorical import (
    HashedCategoricalColumn,
    IdentityCategoricalColumn,
    categorical_column_with_hash_bucket,
    categorical_column_with_identity,
)
from estimators.feature_column.crossed import CrossedColumn, crossed_column
from estimators.feature_column.dense import (
    EmbeddingColumn,
    IndicatorColumn,
    SharedEmbeddingColumn,
    embedding_column,
    indicator_column,
    shared_embeddings,
)
from estimators.feature_column.errors import FeatureInputError
from estimators.feature_column.layers import input_layer, linear_model
from estimators.feature_column.numeric import NumericColumn, numeric_column
from estimators.feature_column.parse_spec import (
    FixedLenFeature,
    VarLenFeature,
    make_parse_example_spec,
)
from estimators.feature_column.serialize import deserialize, serialize
from estimators.feature_column.transform import transform
from estimators.feature_column.vocabulary import (
    VocabularyListColumn,
    categorical_column_with_vocabulary_file,
    categorical_column_with_vocabulary_list,
)
from estimators.feature_column.weighted import (
    WeightedCategoricalColumn,
    weighted_categorical_column,
)

__all__ = [
    "BucketizedColumn",
    "CategoricalColumn",
    "CrossedColumn",
    "DenseColumn",
    "EmbeddingColumn",
    "FeatureColumn",
    "FeatureInputError",
    "FixedLenFeature",
    "HashedCategoricalColumn",
    "IdentityCategoricalColumn",
    "IndicatorColumn",
    "NumericColumn",
    "SharedEmbeddingColumn",
    "VarLenFeature",
    "VocabularyListColumn",
    "WeightedCategoricalColumn",
    "analyze",
    "bucketized_column",
    "categorical_column_with_hash_bucket",
    "categorical_column_with_identity",
    "categorical_column_with_vocabulary_file",
    "categorical_column_with_vocabulary_list",
    "crossed_column",
    "deserialize",
    "embedding_column",
    "indicator_column",
    "input_layer",
    "is_feature_column",
    "is_frozen",
    "linear_model",
    "make_parse_example_spec",
    "numeric_column",
    "serialize",
    "shared_embeddings",
    "transform",
    "weighted_categorical_column",
]
